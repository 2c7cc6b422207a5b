"""Segregation of duties, per-currency balance, system entries and bounded totals."""

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from ledger import commands
from ledger.models import AccountBalance, JournalEntry
from platform_integrity.context import Actor
from platform_integrity.integrity import run_all
from platform_integrity.models import AuditEvent
from tests.conftest import (
    PERIOD_START,
    TODAY,
    assert_invariants_hold,
    assert_problem,
    client_for,
    entry_body,
    line,
    make_user,
)

pytestmark = pytest.mark.django_db

BIG = 90_000_000  # 900,000.00 USD: above the books' 10,000.00 threshold


def lines_of(books, amount):
    return [
        line(books.account("6000"), "DEBIT", amount),
        line(books.account("1000"), "CREDIT", amount),
    ]


def draft_by(client, books, amount=100, **extra):
    response = client.post(
        "/v1/journal-entries", entry_body(books, lines_of(books, amount), **extra), format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_approver_who_edited_another_preparers_draft_cannot_edit_it_at_all(books, api):
    """The incident: accountant + approver PATCHed another's $1 draft to $900,000,
    submitted and approved it."""
    draft = draft_by(api["accountant"], books, 100)
    patched = api["preparer_approver"].patch(
        f"/v1/journal-entries/{draft['id']}",
        {"lines": lines_of(books, BIG)},
        format="json",
    )
    assert_problem(patched, 403, "permission_denied")
    submitted = api["preparer_approver"].post(f"/v1/journal-entries/{draft['id']}/submit")
    assert_problem(submitted, 403, "permission_denied")
    voided = api["preparer_approver"].post(f"/v1/journal-entries/{draft['id']}/void")
    assert_problem(voided, 403, "permission_denied")
    entry = JournalEntry.objects.get(pk=draft["id"])
    assert (entry.status, entry.total_debit_minor) == ("DRAFT", 100)


def test_a_controller_who_edits_a_draft_is_recorded_and_cannot_approve_it(books, api, users):
    draft = draft_by(api["accountant"], books, 100)
    edited = api["controller"].patch(
        f"/v1/journal-entries/{draft['id']}", {"lines": lines_of(books, BIG)}, format="json"
    )
    assert edited.status_code == 200, edited.content
    assert JournalEntry.objects.get(pk=draft["id"]).contributor_ids == [users["controller"].pk]
    api["accountant"].post(f"/v1/journal-entries/{draft['id']}/submit")

    refused = api["controller"].post(f"/v1/journal-entries/{draft['id']}/approve")
    assert_problem(refused, 403, "journal_entry.self_approval_forbidden")
    assert JournalEntry.objects.get(pk=draft["id"]).status == "PENDING_APPROVAL"

    approved = api["approver"].post(f"/v1/journal-entries/{draft['id']}/approve")
    assert approved.json()["status"] == "POSTED"
    assert AccountBalance.objects.get(account=books.account("6000")).balance_minor == BIG
    assert_invariants_hold()


def test_a_controller_who_submits_anothers_draft_cannot_approve_it(books, api, users):
    draft = draft_by(api["accountant"], books, BIG)
    submitted = api["controller"].post(f"/v1/journal-entries/{draft['id']}/submit")
    assert submitted.json()["status"] == "PENDING_APPROVAL"
    entry = JournalEntry.objects.get(pk=draft["id"])
    assert entry.submitted_by == users["controller"]
    assert entry.routed_threshold_minor == 1_000_000
    refused = api["controller"].post(f"/v1/journal-entries/{draft['id']}/approve")
    assert_problem(refused, 403, "journal_entry.self_approval_forbidden")


def test_segregation_is_judged_by_the_threshold_the_entry_was_routed_by(books, api):
    under = draft_by(api["accountant"], books, 500_000)  # 5,000.00: under 10,000.00
    assert api["accountant"].post(f"/v1/journal-entries/{under['id']}/submit").json()["status"] == (
        "POSTED"
    )
    commands.entity_update(
        Actor.system(), entity_id=books.entity.id, approval_threshold_minor=100_000
    )
    assert run_all()["approval above threshold by someone other than the preparer"] == []

    with connection.cursor() as cursor:  # tampering as the database owner would
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "UPDATE journal_entry SET routed_threshold_minor = 1000 WHERE id = %s", [under["id"]]
        )
        cursor.execute("SET LOCAL session_replication_role = origin")
    found = run_all()["approval above threshold by someone other than the preparer"]
    assert len(found) == 1 and under["id"] in found[0]


def test_threshold_change_is_audited_with_old_and_new_values(books, api):
    changed = api["controller"].patch(
        f"/v1/entities/{books.entity.id}", {"approval_threshold_minor": 2_000_000}, format="json"
    )
    assert changed.status_code == 200, changed.content
    audit = AuditEvent.objects.filter(action="ledger.entity_update").latest("id")
    assert audit.payload == {"approval_threshold_minor": {"old": 1_000_000, "new": 2_000_000}}
    assert audit.actor == "dave"


def test_integration_cannot_raise_the_threshold_even_by_calling_the_command(books, users):
    actor = Actor(user=users["integration"], channel="API")
    with pytest.raises(Exception) as refused:
        commands.entity_update(actor, entity_id=books.entity.id, approval_threshold_minor=2**62)
    assert refused.value.code == "permission_denied"
    books.entity.refresh_from_db()
    assert books.entity.approval_threshold_minor == 1_000_000
    rejected = AuditEvent.objects.filter(action="ledger.entity_update").latest("id")
    assert (rejected.outcome, rejected.reason_code) == ("REJECTED", "permission_denied")


def test_entry_must_balance_in_each_transaction_currency(books, api):
    commands.fx_rate_create(
        Actor.system(),
        base_currency="JPY",
        quote_currency="USD",
        rate=Decimal("0.006667"),
        as_of=PERIOD_START,
    )
    lines = [
        line(books.account("6000"), "DEBIT", 100, "JPY"),
        line(books.account("1000"), "CREDIT", 101, "JPY"),
    ]
    refused = api["accountant"].post("/v1/journal-entries", entry_body(books, lines), format="json")
    problem = assert_problem(refused, 422, "journal_entry.imbalanced")
    assert (problem["currency_code"], problem["total_debit_minor"]) == ("JPY", 100)
    assert problem["total_credit_minor"] == 101
    assert JournalEntry.objects.count() == 0


@pytest.mark.parametrize(
    "amounts",
    [[2**62, 2**62], [2**63 - 1, 1]],
    ids=["sum-overflows", "line-at-max-plus-one"],
)
def test_entry_totals_that_overflow_a_bigint_are_refused(books, users, amounts):
    from ledger.lines import LineInput

    actor = Actor(user=users["accountant"], channel="API")
    debit = [LineInput(books.account("6000").id, "DEBIT", amount, "USD") for amount in amounts]
    credit = [LineInput(books.account("1000").id, "CREDIT", sum(amounts) // 2, "USD")] * 2
    with pytest.raises(Exception) as refused:
        commands.journal_entry_create(
            actor,
            entity_id=books.entity.id,
            period_id=books.period.id,
            posting_date=TODAY,
            lines=debit + credit,
        )
    assert refused.value.code == "journal_entry.amount_out_of_range"
    assert JournalEntry.objects.count() == 0


def test_a_bills_gl_entry_cannot_be_reversed_or_voided_through_the_journal_api(books, api, users):
    from tests.payables.conftest import make_bill
    from tests.payables.conftest import make_books as payables_books

    ap = payables_books()
    bill = make_bill(ap)
    client = client_for(make_user("controller2", "controller"))
    reversed_ = client.post(
        f"/v1/journal-entries/{bill.journal_entry_id}/reverse",
        {"posting_date": TODAY.isoformat(), "period_id": str(bill.journal_entry.period_id)},
        format="json",
    )
    assert_problem(reversed_, 409, "journal_entry.system_entry")
    voided = client.post(f"/v1/journal-entries/{bill.journal_entry_id}/void")
    assert_problem(voided, 409, "journal_entry.system_entry")
    assert JournalEntry.objects.filter(reversal_of=bill.journal_entry_id).count() == 0
    assert_invariants_hold()


def test_manual_entries_keep_off_the_ap_control_account(books, api):
    lines = [
        line(books.account("2000"), "DEBIT", 5_000),
        line(books.account("1000"), "CREDIT", 5_000),
    ]
    refused = api["accountant"].post("/v1/journal-entries", entry_body(books, lines), format="json")
    assert_problem(refused, 422, "journal_entry.control_account")
    assert JournalEntry.objects.count() == 0


def test_verify_integrity_sees_an_ap_control_balance_that_drifted_from_the_open_bills(db):
    from tests.payables.conftest import make_bill
    from tests.payables.conftest import make_books as payables_books

    ap = payables_books()
    make_bill(ap)
    assert run_all()["payables.ap_control_equals_open_bills"] == []
    AccountBalance.objects.filter(account=ap.account("2000")).update(balance_minor=-1)
    found = run_all()["payables.ap_control_equals_open_bills"]
    assert len(found) == 1 and str(ap.entity.id) in found[0]
    with pytest.raises(CommandError, match="invariants violated"):
        call_command("verify_integrity")
