"""Seed 000: concurrent payments against one vendor's balance never lose an update."""

import pytest
from django.db.models import Sum

from ledger.models import AccountBalance
from payables import commands
from payables.models import Bill, Payment, Vendor
from platform_integrity.errors import DomainError
from tests.payables.conftest import api_client, assert_invariants_hold, make_bill
from tests.payables.race import run_processes, run_threads

pytestmark = pytest.mark.django_db(transaction=True)


def vendor_of(books) -> Vendor:
    return Vendor.objects.get(pk=books.vendor.pk)


def assert_vendor_equals_its_children(books) -> None:
    vendor = vendor_of(books)
    billed = Bill.objects.filter(vendor=vendor).aggregate(s=Sum("total_minor"))["s"]
    paid = Payment.objects.filter(bill__vendor=vendor, status="POSTED").aggregate(
        s=Sum("amount_minor")
    )["s"]
    assert vendor.open_balance_minor == billed - (paid or 0)
    bank = AccountBalance.objects.get(account=books.account("1000")).balance_minor
    assert bank == -(paid or 0)
    assert_invariants_hold()


def test_two_payments_with_the_same_version_one_wins_one_gets_409(books):
    bills = [make_bill(books, 10_000, number=f"B-{i}") for i in range(2)]
    version = vendor_of(books).version
    clients = [api_client(books.users["integration"]) for _ in bills]

    def pay(client, bill):
        body = {
            "bill_id": str(bill.id),
            "amount_minor": 10_000,
            "currency_code": "USD",
            "post": True,
            "expected_version": version,
        }
        return lambda: client.post("/v1/payments", body, format="json")

    responses = run_threads(*(pay(c, b) for c, b in zip(clients, bills, strict=True)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409]
    loser = next(r for r in responses if r.status_code == 409).json()
    assert loser["code"] == "optimistic_lock_conflict"
    assert loser["current_version"] == version + 1
    assert vendor_of(books).version == version + 1
    assert_vendor_equals_its_children(books)


@pytest.mark.parametrize("writers", [2, 24])
def test_many_writers_on_one_vendor_threads(books, writers):
    bills = [make_bill(books, 1_000 + i, number=f"T-{i}") for i in range(writers)]
    actor = books.actor("integration", "API")
    version = vendor_of(books).version

    def pay(i, bill):
        # Half the writers send the version they read; every other one pays blind.
        stale = {"expected_version": version} if i % 2 else {}
        return lambda: commands.payment_submit(
            actor,
            bill_id=bill.id,
            amount_minor=bill.total_minor,
            currency_code="USD",
            post=True,
            **stale,
        )

    results = run_threads(*(pay(i, b) for i, b in enumerate(bills)))
    for result in results:
        assert isinstance(result, Payment) or (
            isinstance(result, DomainError) and result.status in (409, 503)
        ), result
    wins = [r for r in results if isinstance(r, Payment)]
    assert len(wins) >= writers // 2
    assert_vendor_equals_its_children(books)


@pytest.mark.parametrize("writers", [2, 24])
def test_many_writers_on_one_vendor_processes(books, writers):
    bills = [make_bill(books, 2_000 + i, number=f"P-{i}") for i in range(writers)]
    calls = [
        {
            "username": "sync-bot",
            "bill_id": str(bill.id),
            "amount_minor": bill.total_minor,
            "currency_code": "USD",
            "post": True,
        }
        for bill in bills
    ]
    # Two extra writers try to pay bills already being paid: they must lose cleanly.
    calls += [dict(calls[0]), dict(calls[1])]
    outcomes = run_processes(calls)
    assert all(status in (201, 409, 503) for status, _ in outcomes), outcomes
    print("OUTCOMES", sorted(outcomes))
    assert sum(1 for status, _ in outcomes if status == 201) >= writers - 2
    for bill in bills[:2]:
        assert Payment.objects.filter(bill=bill, status="POSTED").count() <= 1
    assert_vendor_equals_its_children(books)
