"""The admin is a side door: history is read-only, money models are view-only, and its
actions declare a permission, ask for a reason and call the command."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from payables import commands
from payables.models import Bill, Payment, Vendor
from platform_integrity.models import AuditEvent
from platform_integrity.roles import ROLE_PERMISSIONS
from tests.payables.conftest import assert_invariants_hold, make_bill

pytestmark = pytest.mark.django_db(transaction=True)


def admin_client(user) -> Client:
    client = Client(REMOTE_ADDR="192.0.2.44")
    client.force_login(user)
    return client


@pytest.fixture
def superuser():
    return get_user_model().objects.create_superuser("root", "root@example.com", "x" * 16)


@pytest.fixture
def paid_bill(books):
    bill = make_bill(books, 50_000)
    commands.payment_submit(
        books.actor("clerk", "API"),
        bill_id=bill.id,
        amount_minor=50_000,
        currency_code="USD",
        external_id="pay-1",
        post=True,
    )
    return Bill.objects.get(pk=bill.pk)


def first_history_id(obj) -> int:
    return obj.history.order_by("history_date").first().history_id


@pytest.mark.parametrize("who", ["controller", "superuser"])
def test_reverting_a_paid_bill_to_its_open_snapshot_is_refused(books, paid_bill, superuser, who):
    user = superuser if who == "superuser" else books.users["controller"]
    client = admin_client(user)
    url = f"/admin/payables/bill/{paid_bill.pk}/history/{first_history_id(paid_bill)}/"

    shown = client.get(url)
    assert shown.status_code == 200
    assert "Revert" not in shown.content.decode()

    refused = client.post(url, {"_save": "Save", "status": "OPEN"})
    assert refused.status_code == 403
    bill = Bill.objects.get(pk=paid_bill.pk)
    assert (bill.status, bill.balance_due_minor) == (Bill.Status.PAID, 0)
    assert_invariants_hold()


@pytest.mark.parametrize(
    "model_path, obj",
    [
        ("payables/vendor", lambda books, bill: books.vendor),
        ("payables/payment", lambda books, bill: Payment.objects.get(bill=bill)),
        ("ledger/journalentry", lambda books, bill: bill.journal_entry),
        ("ledger/entity", lambda books, bill: books.entity),
    ],
)
def test_history_of_every_money_model_is_read_only(books, paid_bill, superuser, model_path, obj):
    target = obj(books, paid_bill)
    client = admin_client(superuser)
    url = f"/admin/{model_path}/{target.pk}/history/{first_history_id(target)}/"
    assert client.get(url).status_code == 200
    assert client.post(url, {"_save": "Save"}).status_code == 403


def test_a_superuser_cannot_save_vendors_bills_or_payments(books, paid_bill, superuser):
    client = admin_client(superuser)
    payment = Payment.objects.get(bill=paid_bill)
    for path, obj, field in [
        ("payables/vendor", books.vendor, "name"),
        ("payables/bill", paid_bill, "number"),
        ("payables/payment", payment, "external_id"),
    ]:
        response = client.post(f"/admin/{path}/{obj.pk}/change/", {field: "changed"})
        assert response.status_code == 403, path
    assert Vendor.objects.get(pk=books.vendor.pk).name == "Acme Supplies"
    assert Bill.objects.get(pk=paid_bill.pk).number == "INV-1"
    assert Payment.objects.get(pk=payment.pk).external_id == "pay-1"


def test_voiding_payments_needs_the_pay_permission(books, paid_bill):
    assert "payables.pay_bill" not in ROLE_PERMISSIONS["controller"]
    payment = Payment.objects.get(bill=paid_bill)
    client = admin_client(books.users["controller"])
    listing = client.get("/admin/payables/payment/")
    assert listing.status_code == 200
    assert "void_payments" not in listing.content.decode()

    response = client.post(
        "/admin/payables/payment/",
        {
            "action": "void_payments",
            "_selected_action": [str(payment.pk)],
            "confirm": "yes",
            "reason": "duplicate",
        },
    )
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.POSTED
    assert response.status_code in (200, 302)
    assert not AuditEvent.objects.filter(action="payables.payment_void").exists()


def test_void_asks_for_a_reason_and_a_confirmation_then_calls_the_command(books, paid_bill):
    payment = Payment.objects.get(bill=paid_bill)
    get_user_model().objects.filter(pk=books.users["clerk"].pk).update(is_staff=True)
    client = admin_client(books.users["clerk"])
    selection = {"action": "void_payments", "_selected_action": [str(payment.pk)]}

    asked = client.post("/admin/payables/payment/", selection)
    assert asked.status_code == 200
    page = asked.content.decode()
    assert "Void payments" in page and 'name="reason"' in page
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.POSTED

    no_reason = client.post("/admin/payables/payment/", {**selection, "confirm": "yes"})
    assert no_reason.status_code == 200
    assert "This field is required" in no_reason.content.decode()
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.POSTED

    done = client.post(
        "/admin/payables/payment/",
        {**selection, "confirm": "yes", "reason": "Bank returned the wire"},
        follow=True,
    )
    assert done.status_code == 200
    assert f"Payment {payment.pk} voided." in done.content.decode()
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.VOID
    bill = Bill.objects.get(pk=paid_bill.pk)
    assert (bill.status, bill.balance_due_minor) == (Bill.Status.OPEN, 50_000)
    voided = AuditEvent.objects.get(action="payables.payment_void", object_id=str(payment.pk))
    assert (voided.actor, voided.channel, voided.ip) == ("erin", "ADMIN", "192.0.2.44")
    assert voided.payload["reason"] == "Bank returned the wire"
    assert_invariants_hold()
