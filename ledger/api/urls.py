from django.urls import path

from ledger.api import entries, views

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
    path("journal-entries", entries.JournalEntryListCreateApi.as_view()),
    path("journal-entries/<uuid:entry_id>", entries.JournalEntryDetailApi.as_view()),
    path("journal-entries/<uuid:entry_id>/submit", entries.JournalEntrySubmitApi.as_view()),
    path("journal-entries/<uuid:entry_id>/approve", entries.JournalEntryApproveApi.as_view()),
    path("journal-entries/<uuid:entry_id>/reject", entries.JournalEntryRejectApi.as_view()),
    path("journal-entries/<uuid:entry_id>/void", entries.JournalEntryVoidApi.as_view()),
    path("journal-entries/<uuid:entry_id>/reverse", entries.JournalEntryReverseApi.as_view()),
]
