"""Seed 004: a manual journal entry with double-entry enforcement, through the API."""

import pytest

from ledger.models import AccountBalance, JournalEntry, JournalEntryLine
from platform_integrity.models import AuditEvent, OutboxEvent
from tests.conftest import THRESHOLD_MINOR, assert_invariants_hold, assert_problem, entry_body, line

pytestmark = pytest.mark.django_db


def test_entry_above_threshold_routes_to_approver_and_posts_atomically(books, api, users):
    amount = THRESHOLD_MINOR + 12_345
    body = entry_body(
        books,
        [
            line(books.account("6000"), "DEBIT", amount - 45_000, dimension_tags={"dept": "ops"}),
            line(books.account("6100"), "DEBIT", 45_000),
            line(books.account("1000"), "CREDIT", amount),
        ],
        external_id="je-acceptance-1",
    )
    created = api["accountant"].post("/v1/journal-entries", body, format="json")
    assert created.status_code == 201, created.content
    entry = created.json()
    assert entry["status"] == "DRAFT"
    assert len(entry["lines"]) == 3

    submitted = api["accountant"].post(f"/v1/journal-entries/{entry['id']}/submit")
    assert submitted.status_code == 200
    assert submitted.json()["status"] == "PENDING_APPROVAL"
    assert AccountBalance.objects.get(account=books.account("1000")).balance_minor == 0

    queue = api["approver"].get("/v1/journal-entries", {"status": "PENDING_APPROVAL"})
    assert [e["id"] for e in queue.json()["results"]] == [entry["id"]]

    approved = api["approver"].post(f"/v1/journal-entries/{entry['id']}/approve")
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "POSTED"
    assert approved.json()["approved_by"] == "carol"

    balances = {b.account_id: (b.balance_minor, b.version) for b in AccountBalance.objects.all()}
    assert balances[books.account("6000").id] == (amount - 45_000, 1)
    assert balances[books.account("6100").id] == (45_000, 1)
    assert balances[books.account("1000").id] == (-amount, 1)

    trail = AuditEvent.objects.filter(object_type="journal_entry", object_id=entry["id"])
    by_action = {a.action: a for a in trail}
    assert by_action["ledger.journal_entry_create"].actor == "alice"
    approval = by_action["ledger.journal_entry_approve"]
    assert approval.actor == "carol"
    assert approval.ip == "203.0.113.7"
    assert approval.payload["prepared_by"] == "alice"
    assert approval.payload["approved_by"] == "carol"
    assert approval.occurred_at is not None
    assert by_action["ledger.journal_entry_post"].payload["approved_by"] == "carol"
    assert OutboxEvent.objects.filter(event_type="gl.journal_entry.posted").count() == 1
    assert OutboxEvent.objects.filter(event_type="balance.updated").count() == 3

    audit = api["controller"].get(
        "/v1/audit-events", {"object_type": "journal_entry", "object_id": entry["id"]}
    )
    assert {row["actor"] for row in audit.json()["results"]} == {"alice", "carol"}
    assert_invariants_hold()


def test_imbalanced_entry_is_refused_with_problem_and_nothing_saved(books, api):
    body = entry_body(
        books,
        [
            line(books.account("6000"), "DEBIT", 10_000),
            line(books.account("1000"), "CREDIT", 9_999),
        ],
    )
    response = api["accountant"].post("/v1/journal-entries", body, format="json")
    problem = assert_problem(response, 422, "journal_entry.imbalanced")
    assert problem["total_debit_minor"] == 10_000
    assert problem["total_credit_minor"] == 9_999
    assert JournalEntry.objects.count() == 0
    assert JournalEntryLine.objects.count() == 0
    rejected = AuditEvent.objects.get(outcome="REJECTED")
    assert rejected.reason_code == "journal_entry.imbalanced"
    assert rejected.actor == "alice"


def test_entry_under_threshold_posts_on_submit_as_auto_approved(books, api):
    body = entry_body(
        books,
        [line(books.account("6000"), "DEBIT", 5_000), line(books.account("1000"), "CREDIT", 5_000)],
    )
    entry = api["accountant"].post("/v1/journal-entries", body, format="json").json()
    submitted = api["accountant"].post(f"/v1/journal-entries/{entry['id']}/submit").json()
    assert submitted["status"] == "POSTED"
    assert submitted["auto_approved"] is True
    assert AccountBalance.objects.get(account=books.account("6000")).balance_minor == 5_000
    assert_invariants_hold()


def test_entry_created_with_submit_posts_in_the_same_request(books, api):
    body = entry_body(
        books,
        [line(books.account("6000"), "DEBIT", 5_000), line(books.account("1000"), "CREDIT", 5_000)],
    )
    created = api["accountant"].post("/v1/journal-entries", {**body, "submit": True}, format="json")
    assert created.status_code == 201, created.content
    entry = created.json()
    assert (entry["status"], entry["auto_approved"]) == ("POSTED", True)
    assert AccountBalance.objects.get(account=books.account("6000")).balance_minor == 5_000
    assert AccountBalance.objects.get(account=books.account("1000")).balance_minor == -5_000
    actions = AuditEvent.objects.filter(object_id=entry["id"]).order_by("id")
    assert list(actions.values_list("action", flat=True)) == [
        "ledger.journal_entry_create",
        "ledger.journal_entry_submit",
        "ledger.journal_entry_post",
    ]
    assert_invariants_hold()


def test_entry_created_with_submit_above_threshold_waits_for_approval(books, api):
    amount = THRESHOLD_MINOR + 1
    body = entry_body(
        books,
        [
            line(books.account("6000"), "DEBIT", amount),
            line(books.account("1000"), "CREDIT", amount),
        ],
    )
    created = api["accountant"].post("/v1/journal-entries", {**body, "submit": True}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["status"] == "PENDING_APPROVAL"
    assert AccountBalance.objects.get(account=books.account("6000")).balance_minor == 0
    queue = api["approver"].get("/v1/journal-entries", {"status": "PENDING_APPROVAL"})
    assert [e["id"] for e in queue.json()["results"]] == [created.json()["id"]]
