"""Ledger screens, included at the site root."""

from django.urls import path

from ledger import views

app_name = "ledger"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("journal-entries/", views.journal_entry_list, name="journal_entry_list"),
    path("journal-entries/new/", views.journal_entry_new, name="journal_entry_new"),
    path(
        "journal-entries/<uuid:entry_id>/",
        views.journal_entry_detail,
        name="journal_entry_detail",
    ),
    path(
        "journal-entries/<uuid:entry_id>/submit/",
        views.journal_entry_submit,
        name="journal_entry_submit",
    ),
    path(
        "journal-entries/<uuid:entry_id>/approve/",
        views.journal_entry_approve,
        name="journal_entry_approve",
    ),
    path(
        "journal-entries/<uuid:entry_id>/reject/",
        views.journal_entry_reject,
        name="journal_entry_reject",
    ),
    path(
        "journal-entries/<uuid:entry_id>/void/",
        views.journal_entry_void,
        name="journal_entry_void",
    ),
    path("approvals/", views.approvals, name="approvals"),
    path("trial-balance/", views.trial_balance, name="trial_balance"),
]
