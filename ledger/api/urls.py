from django.urls import path

from ledger.api import views

urlpatterns = [
    path("entities", views.EntityListCreateApi.as_view()),
    path("entities/<uuid:entity_id>", views.EntityDetailApi.as_view()),
    path("entities/<uuid:entity_id>/trial-balance", views.TrialBalanceApi.as_view()),
    path("accounts", views.AccountListCreateApi.as_view()),
    path("accounts/<uuid:account_id>", views.AccountDetailApi.as_view()),
    path("accounts/<uuid:account_id>/balance", views.AccountBalanceApi.as_view()),
    path("periods", views.PeriodListCreateApi.as_view()),
    path("periods/<uuid:period_id>", views.PeriodDetailApi.as_view()),
    path("periods/<uuid:period_id>/close", views.PeriodCloseApi.as_view()),
    path("periods/<uuid:period_id>/reopen", views.PeriodReopenApi.as_view()),
    path("fx-rates", views.FxRateListCreateApi.as_view()),
    path("journal-entries", views.JournalEntryListCreateApi.as_view()),
    path("journal-entries/<uuid:entry_id>", views.JournalEntryDetailApi.as_view()),
    path("journal-entries/<uuid:entry_id>/submit", views.JournalEntrySubmitApi.as_view()),
    path("journal-entries/<uuid:entry_id>/approve", views.JournalEntryApproveApi.as_view()),
    path("journal-entries/<uuid:entry_id>/reject", views.JournalEntryRejectApi.as_view()),
    path("journal-entries/<uuid:entry_id>/void", views.JournalEntryVoidApi.as_view()),
    path("journal-entries/<uuid:entry_id>/reverse", views.JournalEntryReverseApi.as_view()),
]
