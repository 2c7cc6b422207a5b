"""The AP clerk's bill screens: a prefilled Pay form that never pays twice."""

import re

import pytest

from payables import commands
from payables.models import Payment
from tests.payables.conftest import assert_invariants_hold

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clerk(books, client):
    client.force_login(books.users["clerk"])
    return client


def pay_form(response) -> dict:
    html = response.content.decode()
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)
    amount = re.search(r'name="amount_minor"[^>]*value="(\d+)"', html).group(1)
    return {"idempotency_key": key, "amount_minor": amount}


def test_bill_list_filters(clerk, bill):
    page = clerk.get("/bills/", {"status": "OPEN", "vendor": str(bill.vendor_id)})
    assert page.status_code == 200
    assert bill.number in page.content.decode()
    assert bill.number not in clerk.get("/bills/", {"status": "PAID"}).content.decode()


def test_pay_form_is_prefilled_and_a_resubmitted_form_pays_once(clerk, bill):
    form = pay_form(clerk.get(f"/bills/{bill.id}/"))
    assert form["amount_minor"] == str(bill.total_minor)

    first = clerk.post(f"/bills/{bill.id}/", form, follow=True)
    second = clerk.post(f"/bills/{bill.id}/", form, follow=True)  # double click / resubmit
    assert first.status_code == second.status_code == 200
    assert "already submitted" in second.content.decode()
    payment = Payment.objects.get()
    assert (payment.status, payment.channel) == ("POSTED", "UI")
    assert payment.external_id == f"ui:{form['idempotency_key']}"
    assert "PAID" in second.content.decode()
    assert 'id="pay-form"' not in second.content.decode()
    assert_invariants_hold()


def test_a_409_is_shown_as_a_message(books, clerk, bill):
    form = pay_form(clerk.get(f"/bills/{bill.id}/"))
    commands.payment_submit(
        books.actor("integration", "API"),
        bill_id=bill.id,
        amount_minor=bill.total_minor,
        currency_code="USD",
    )
    page = clerk.post(f"/bills/{bill.id}/", form)
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="pay-error"' in html
    assert "cannot be paid again" in html
    assert "bill_already_paid_or_in_flight" in html  # listed under rejected attempts
    assert Payment.objects.count() == 1


def test_screens_need_login(client, bill):
    assert client.get(f"/bills/{bill.id}/").status_code == 302
