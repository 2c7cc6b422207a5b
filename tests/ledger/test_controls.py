"""Every control of the ledger, with the spec's problem codes."""

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from ledger import commands
from ledger.models import AccountBalance, JournalEntry, JournalEntryLine
from ledger.money import allocate, exact_functional
from platform_integrity.context import Actor
from tests.conftest import (
    TODAY,
    assert_invariants_hold,
    assert_problem,
    client_for,
    entry_body,
    line,
    make_books,
    make_user,
)

pytestmark = pytest.mark.django_db


def create(api, books, lines, **extra):
    return api["accountant"].post(
        "/v1/journal-entries", entry_body(books, lines, **extra), format="json"
    )


def balanced(books, amount=1_000):
    return [
        line(books.account("6000"), "DEBIT", amount),
        line(books.account("1000"), "CREDIT", amount),
    ]


def test_closed_period_blocks_create_submit_approve_and_reverse(books, api, users):
    draft = create(api, books, balanced(books)).json()
    pending = create(api, books, balanced(books, 2_000_000)).json()
    api["accountant"].post(f"/v1/journal-entries/{pending['id']}/submit")
    posted = create(api, books, balanced(books)).json()
    api["accountant"].post(f"/v1/journal-entries/{posted['id']}/submit")

    closed = api["controller"].post(f"/v1/periods/{books.period.id}/close")
    assert closed.json()["status"] == "CLOSED"

    assert_problem(create(api, books, balanced(books)), 422, "period.locked")
    assert_problem(
        api["accountant"].post(f"/v1/journal-entries/{draft['id']}/submit"), 422, "period.locked"
    )
    assert_problem(
        api["approver"].post(f"/v1/journal-entries/{pending['id']}/approve"), 422, "period.locked"
    )
    reverse = api["accountant"].post(
        f"/v1/journal-entries/{posted['id']}/reverse",
        {"posting_date": TODAY.isoformat(), "period_id": str(books.period.id)},
        format="json",
    )
    assert_problem(reverse, 422, "period.locked")

    reopened = api["controller"].post(f"/v1/periods/{books.period.id}/reopen")
    assert reopened.json()["status"] == "OPEN"
    assert (
        api["approver"].post(f"/v1/journal-entries/{pending['id']}/approve").json()["status"]
        == "POSTED"
    )


def test_preparer_cannot_approve_their_own_entry(books, api):
    own = api["preparer_approver"]
    entry = own.post(
        "/v1/journal-entries", entry_body(books, balanced(books, 5_000_000)), format="json"
    ).json()
    own.post(f"/v1/journal-entries/{entry['id']}/submit")
    assert_problem(
        own.post(f"/v1/journal-entries/{entry['id']}/approve"),
        403,
        "journal_entry.self_approval_forbidden",
    )
    assert JournalEntry.objects.get(pk=entry["id"]).status == "PENDING_APPROVAL"


def test_accountant_without_approver_role_gets_403(books, api):
    entry = create(api, books, balanced(books, 5_000_000)).json()
    api["accountant"].post(f"/v1/journal-entries/{entry['id']}/submit")
    assert_problem(
        api["accountant2"].post(f"/v1/journal-entries/{entry['id']}/approve"),
        403,
        "permission_denied",
    )


def test_posted_entry_is_immutable(books, api):
    entry = create(api, books, balanced(books)).json()
    api["accountant"].post(f"/v1/journal-entries/{entry['id']}/submit")
    edit = api["accountant"].patch(
        f"/v1/journal-entries/{entry['id']}", {"memo": "changed"}, format="json"
    )
    assert_problem(edit, 409, "journal_entry.immutable")
    assert_problem(
        api["accountant"].post(f"/v1/journal-entries/{entry['id']}/void"),
        409,
        "journal_entry.immutable",
    )


def test_reject_returns_to_draft_with_reason_and_reversal_nets_to_zero(books, api):
    entry = create(api, books, balanced(books, 3_000_000)).json()
    api["accountant"].post(f"/v1/journal-entries/{entry['id']}/submit")
    rejected = (
        api["approver"]
        .post(
            f"/v1/journal-entries/{entry['id']}/reject",
            {"reason_code": "missing_support", "reason": "Attach the invoice"},
            format="json",
        )
        .json()
    )
    assert (rejected["status"], rejected["rejection_reason_code"]) == ("DRAFT", "missing_support")
    api["accountant"].post(f"/v1/journal-entries/{entry['id']}/submit")
    api["approver"].post(f"/v1/journal-entries/{entry['id']}/approve")
    reversal = api["accountant"].post(
        f"/v1/journal-entries/{entry['id']}/reverse",
        {"posting_date": TODAY.isoformat(), "period_id": str(books.period.id)},
        format="json",
    )
    assert reversal.status_code == 201
    assert reversal.json()["reversal_of"] == entry["id"]
    assert reversal.json()["status"] == "PENDING_APPROVAL"
    api["approver"].post(f"/v1/journal-entries/{reversal.json()['id']}/approve")
    assert set(AccountBalance.objects.values_list("balance_minor", flat=True)) == {0}
    assert_invariants_hold()


@pytest.mark.parametrize(
    ("lines_of", "code"),
    [
        (lambda b: [line(b.account("6000"), "DEBIT", 100)], "journal_entry.lines_invalid"),
        (
            lambda b: [line(b.account("6000"), "DEBIT", 0), line(b.account("1000"), "CREDIT", 0)],
            "journal_entry.amount_not_positive",
        ),
        (
            lambda b: [line(b.account("6000"), "DEBIT", -5), line(b.account("1000"), "CREDIT", -5)],
            "journal_entry.amount_not_positive",
        ),
        (
            lambda b: [
                line(b.account("6000"), "DEBIT", 100, "EUR"),
                line(b.account("1000"), "CREDIT", 100, "EUR"),
            ],
            "fx.rate_missing",
        ),
        (
            lambda b: [
                line(b.account("6000"), "DEBIT", 100, "XYZ"),
                line(b.account("1000"), "CREDIT", 100, "XYZ"),
            ],
            "currency.unknown",
        ),
    ],
)
def test_invalid_lines_get_their_own_codes(books, api, lines_of, code):
    assert_problem(create(api, books, lines_of(books)), 422, code)
    assert JournalEntry.objects.count() == 0


def test_foreign_unknown_and_inactive_accounts_are_refused(books, api):
    other = make_books("Other Ltd", "GBP")
    foreign = [
        line(other.account("6000"), "DEBIT", 100),
        line(books.account("1000"), "CREDIT", 100),
    ]
    assert_problem(create(api, books, foreign), 422, "journal_entry.account_invalid")
    commands.account_set_active(Actor.system(), account_id=books.account("6100").id, active=False)
    inactive = [
        line(books.account("6100"), "DEBIT", 100),
        line(books.account("1000"), "CREDIT", 100),
    ]
    assert_problem(create(api, books, inactive), 422, "journal_entry.account_invalid")
    outside = create(api, books, balanced(books), posting_date="2026-12-02")
    assert_problem(outside, 422, "journal_entry.posting_date_outside_period")


def test_too_many_lines(books, api):
    lines = [line(books.account("6000"), "DEBIT", 1) for _ in range(10_000)]
    lines.append(line(books.account("1000"), "CREDIT", 10_000))
    problem = assert_problem(create(api, books, lines), 422, "journal_entry.too_many_lines")
    assert problem["max_lines"] == 10_000


def test_999_line_entry_creates_submits_and_approves(books, api):
    lines = [line(books.account("6000"), "DEBIT", 2_000 + i) for i in range(998)]
    lines.append(line(books.account("1000"), "CREDIT", sum(x["amount_minor"] for x in lines)))
    entry = create(api, books, lines)
    assert entry.status_code == 201
    assert entry.json()["line_count"] == 999
    assert (
        api["accountant"].post(f"/v1/journal-entries/{entry.json()['id']}/submit").json()["status"]
        == "PENDING_APPROVAL"
    )
    assert (
        api["approver"].post(f"/v1/journal-entries/{entry.json()['id']}/approve").json()["status"]
        == "POSTED"
    )
    assert AccountBalance.objects.get(account=books.account("6000")).version == 1
    assert_invariants_hold()


def test_multi_currency_lines_convert_at_spot_and_stay_balanced(books, api):
    actor = Actor.system()
    commands.fx_rate_create(
        actor,
        base_currency="JPY",
        quote_currency="USD",
        rate=Decimal("0.006667"),
        as_of=date(2026, 11, 1),
    )
    commands.fx_rate_create(
        actor,
        base_currency="KWD",
        quote_currency="USD",
        rate=Decimal("3.2512"),
        as_of=date(2026, 11, 1),
    )
    commands.fx_rate_create(
        actor,
        base_currency="KWD",
        quote_currency="USD",
        rate=Decimal("9.9"),
        as_of=date(2026, 11, 25),
    )
    jpy = [line(books.account("6000"), "DEBIT", 333, "JPY") for _ in range(3)]
    jpy.append(line(books.account("1000"), "CREDIT", 999, "JPY"))
    entry = create(api, books, jpy).json()
    functional = [(ln["direction"], ln["functional_amount_minor"]) for ln in entry["lines"]]
    # 333 JPY = 2.220111 USD cents each; 999 JPY = 6.660333 -> 666 cents over the debits, exactly.
    assert functional == [("DEBIT", 222), ("DEBIT", 222), ("DEBIT", 222), ("CREDIT", 666)]

    kwd = [
        line(books.account("6000"), "DEBIT", 1_001, "KWD"),
        line(books.account("6100"), "DEBIT", 1_002, "KWD"),
    ]
    kwd.append(line(books.account("1000"), "CREDIT", 2_003, "KWD"))
    lines = create(api, books, kwd).json()["lines"]
    assert [ln["functional_amount_minor"] for ln in lines] == [325, 326, 651]
    assert sum(ln["functional_amount_minor"] for ln in lines if ln["direction"] == "DEBIT") == 651


def test_largest_remainder_allocation_keeps_the_total():
    exact = [exact_functional(1, "JPY", "USD", Decimal("0.006667")) for _ in range(7)]
    allocation = allocate(exact)
    assert allocation.total == 5  # 7 x 0.6667 cents = 4.6669 -> 5
    assert sum(allocation.amounts) == 5
    assert sorted(allocation.amounts) == [0, 0, 1, 1, 1, 1, 1]


def test_trial_balance_reads_balances_and_nets_to_zero(books, api):
    entry = create(api, books, balanced(books, 4_200)).json()
    api["accountant"].post(f"/v1/journal-entries/{entry['id']}/submit")
    report = (
        api["accountant"]
        .get(f"/v1/entities/{books.entity.id}/trial-balance", {"as_of": "2026-11-30"})
        .json()
    )
    assert report["currency_code"] == "USD"
    assert report["total_debit_minor"] == report["total_credit_minor"] == 4_200
    assert {r["code"]: (r["debit_minor"], r["credit_minor"]) for r in report["rows"]} == {
        "1000": (0, 4_200),
        "6000": (4_200, 0),
    }
    before = (
        api["accountant"]
        .get(f"/v1/entities/{books.entity.id}/trial-balance", {"as_of": "2026-11-20"})
        .json()
    )
    assert before["rows"] == [] and before["total_debit_minor"] == 0
    balance = api["accountant"].get(f"/v1/accounts/{books.account('1000').id}/balance").json()
    assert (balance["balance_minor"], balance["version"], balance["currency_code"]) == (
        -4_200,
        1,
        "USD",
    )


def test_database_refuses_changes_to_posted_lines_and_unbalanced_posting(books, api):
    entry = create(api, books, balanced(books)).json()
    api["accountant"].post(f"/v1/journal-entries/{entry['id']}/submit")
    for statement in (
        "UPDATE journal_entry_line SET amount_minor = 1 WHERE journal_entry_id = %s",
        "DELETE FROM journal_entry_line WHERE journal_entry_id = %s",
        "UPDATE journal_entry SET memo = 'x' WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [entry["id"]])
    draft = create(api, books, balanced(books)).json()
    with (
        pytest.raises(DatabaseError, match="does not balance"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE journal_entry_line SET functional_amount_minor = 1 "
            "WHERE journal_entry_id = %s AND direction = 'DEBIT'",
            [draft["id"]],
        )
        cursor.execute("UPDATE journal_entry SET status = 'POSTED' WHERE id = %s", [draft["id"]])
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert (
        JournalEntryLine.objects.filter(
            journal_entry_id=draft["id"], functional_amount_minor=1
        ).count()
        == 0
    )


@pytest.mark.django_db(transaction=True)
def test_parallel_approvals_on_the_same_accounts_keep_balances_exact():
    books = make_books()
    preparer = client_for(make_user("alice", "accountant"))
    approvers = [client_for(make_user(f"approver{n}", "approver")) for n in range(6)]
    ids = []
    for n in range(6):
        entry = preparer.post(
            "/v1/journal-entries", entry_body(books, balanced(books, 2_000_000 + n)), format="json"
        ).json()
        preparer.post(f"/v1/journal-entries/{entry['id']}/submit")
        ids.append(entry["id"])
    barrier = threading.Barrier(len(ids))
    statuses = []

    def approve(client, entry_id):
        barrier.wait()
        statuses.append(client.post(f"/v1/journal-entries/{entry_id}/approve").status_code)
        connection.close()

    threads = [
        threading.Thread(target=approve, args=pair) for pair in zip(approvers, ids, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 6
    expected = sum(2_000_000 + n for n in range(6))
    assert AccountBalance.objects.get(account=books.account("6000")).balance_minor == expected
    assert AccountBalance.objects.get(account=books.account("1000")).balance_minor == -expected
    assert_invariants_hold()
