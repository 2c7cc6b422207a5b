"""Seed 001: a bill is paid exactly once across UI, API and sync, under real concurrency."""

import pytest

from payables import commands
from payables.models import Bill, Payment, PaymentRun, PaymentRunItem
from platform_integrity.models import AuditEvent, OutboxEvent
from tests.payables.conftest import api_client, assert_invariants_hold, make_bill
from tests.payables.race import run_threads

pytestmark = pytest.mark.django_db(transaction=True)

DUPLICATE = "bill_already_paid_or_in_flight"


def api_pay(client, bill, **extra):
    body = {"bill_id": str(bill.id), "amount_minor": bill.total_minor, "currency_code": "USD"}
    return lambda: client.post("/v1/payments", {**body, **extra}, format="json")


def sync_pay(books, bill, external_id: str):
    def job() -> PaymentRunItem:
        # The run's task is sent as it commits; Celery is eager here, so it runs now.
        run = commands.payment_run_create(
            books.actor("integration", "API"),
            kind=PaymentRun.Kind.SYNC,
            entity_id=books.entity.id,
            items=[
                {
                    "bill_id": str(bill.id),
                    "amount_minor": bill.total_minor,
                    "currency_code": "USD",
                    "external_id": external_id,
                }
            ],
        )
        return PaymentRunItem.objects.get(run=run)

    return job


def test_api_and_sync_racing_a_ui_payment_in_flight_both_get_409(books, bill):
    ui = commands.payment_submit(
        books.actor("clerk", "UI", ip="192.0.2.10"),
        bill_id=bill.id,
        amount_minor=bill.total_minor,
        currency_code="USD",
        external_id="ui-form-1",
    )

    api_response, sync_item = run_threads(
        api_pay(api_client(books.users["integration"]), bill, external_id="api-1"),
        sync_pay(books, bill, "sync-1"),
    )

    body = api_response.json()
    assert api_response.status_code == 409
    assert api_response["Content-Type"].startswith("application/problem+json")
    assert body["code"] == DUPLICATE
    assert body["title"] == "Duplicate payment attempt"
    assert body["in_flight_payment_id"] == str(ui.id)
    assert (sync_item.outcome, sync_item.error_code, sync_item.error_status) == (
        "REJECTED",
        DUPLICATE,
        409,
    )

    commands.payment_post(books.actor("clerk", "UI"), payment_id=ui.id)
    bill = Bill.objects.get(pk=bill.pk)
    assert (bill.balance_due_minor, bill.status, bill.in_flight_payment_id) == (0, "PAID", None)
    assert list(Payment.objects.values_list("id", "status")) == [(ui.id, "POSTED")]
    dues = [h.balance_due_minor for h in bill.history.order_by("history_date", "history_id")]
    assert dues.count(0) == 1 and dues[-1] == 0  # reached zero exactly once

    rejected = AuditEvent.objects.filter(
        object_type="bill", object_id=str(bill.id), outcome="REJECTED"
    )
    assert sorted(rejected.values_list("channel", "reason_code")) == [
        ("API", DUPLICATE),
        ("SYNC", DUPLICATE),
    ]
    for row in rejected:
        assert row.payload["in_flight_payment_id"] == str(ui.id)
        assert row.payload["external_id"] in {"api-1", "sync-1"}
        assert row.actor == "sync-bot"
    assert rejected.get(channel="API").ip == "203.0.113.7"
    assert OutboxEvent.objects.filter(event_type="payment.rejected_duplicate").count() == 2

    # After posting, every door still gets 409: the bill is paid.
    late = api_pay(api_client(books.users["integration"]), bill)()
    assert (late.status_code, late.json()["code"]) == (409, DUPLICATE)
    assert_invariants_hold()


def test_three_doors_at_the_same_instant_exactly_one_wins(books, bill):
    ui = books.actor("clerk", "UI")

    def ui_pay():
        return commands.payment_submit(
            ui, bill_id=bill.id, amount_minor=bill.total_minor, currency_code="USD", post=True
        )

    outcomes = run_threads(
        ui_pay,
        api_pay(api_client(books.users["integration"]), bill, post=True),
        sync_pay(books, bill, "sync-2"),
    )
    ui_result, api_response, sync_item = outcomes
    wins = [
        isinstance(ui_result, Payment),
        api_response.status_code == 201,
        sync_item.outcome == "SUCCEEDED",
    ]
    assert wins.count(True) == 1, outcomes
    if not wins[0]:
        assert ui_result.code == DUPLICATE
    if not wins[1]:
        assert api_response.json()["code"] == DUPLICATE
    if not wins[2]:
        assert sync_item.error_code == DUPLICATE
    assert Payment.objects.filter(status="POSTED").count() == 1
    assert Bill.objects.get(pk=bill.pk).balance_due_minor == 0
    assert AuditEvent.objects.filter(object_id=str(bill.id), outcome="REJECTED").count() == 2
    assert_invariants_hold()


def test_voided_payment_does_not_keep_the_bill_locked(books):
    bill = make_bill(books, 80_000, number="INV-NEG")
    ui = commands.payment_submit(
        books.actor("clerk", "UI"), bill_id=bill.id, amount_minor=80_000, currency_code="USD"
    )
    client = api_client(books.users["integration"])
    blocked = api_pay(client, bill)()
    assert blocked.status_code == 409

    voided = client.post(
        f"/v1/payments/{ui.id}/void",
        {"reason_code": "disbursement_failed", "reason": "Bank rejected the transfer"},
        format="json",
    )
    assert voided.status_code == 200, voided.content
    assert voided.json()["status"] == "VOID"
    assert client.get(f"/v1/bills/{bill.id}").json()["in_flight_payment_id"] is None

    legit = api_pay(client, bill, post=True)()
    assert legit.status_code == 201, legit.content
    assert legit.json()["status"] == "POSTED"
    shown = client.get(f"/v1/bills/{bill.id}").json()
    assert (shown["balance_due_minor"], shown["status"]) == (0, "PAID")
    assert_invariants_hold()
