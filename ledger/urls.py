"""Ledger screens, included at the site root."""

from django.urls import path

from ledger.views import entries, reports

app_name = "ledger"

urlpatterns = [
    path("", reports.dashboard, name="dashboard"),
    path("journal-entries/", entries.journal_entry_list, name="journal_entry_list"),
    path("journal-entries/new/", entries.journal_entry_new, name="journal_entry_new"),
    path(
        "journal-entries/<uuid:entry_id>/",
        entries.journal_entry_detail,
        name="journal_entry_detail",
    ),
    path(
        "journal-entries/<uuid:entry_id>/submit/",
        entries.journal_entry_submit,
        name="journal_entry_submit",
    ),
    path(
        "journal-entries/<uuid:entry_id>/approve/",
        entries.journal_entry_approve,
        name="journal_entry_approve",
    ),
    path(
        "journal-entries/<uuid:entry_id>/reject/",
        entries.journal_entry_reject,
        name="journal_entry_reject",
    ),
    path(
        "journal-entries/<uuid:entry_id>/void/",
        entries.journal_entry_void,
        name="journal_entry_void",
    ),
    path("approvals/", entries.approvals, name="approvals"),
    path("trial-balance/", reports.trial_balance, name="trial_balance"),
]
