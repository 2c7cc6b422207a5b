"""The payment command path: guard, lifecycle, GL effects, idempotency, versions."""

from datetime import timedelta

import pytest

from ledger.models import AccountBalance, JournalEntry, JournalEntryLine
from payables import commands, errors
from payables.models import Bill, Payment, Vendor
from platform_integrity.errors import IdempotencyKeyReused, OptimisticLockConflict
from platform_integrity.models import AuditEvent, OutboxEvent
from tests.payables.conftest import assert_invariants_hold, fx_rate, make_bill, make_books, today

pytestmark = pytest.mark.django_db(transaction=True)


def balance(account) -> int:
    return AccountBalance.objects.get(account=account).balance_minor


def test_bill_posts_to_gl_and_raises_vendor_balance(books, bill):
    assert bill.status == Bill.Status.OPEN
    assert bill.balance_due_minor == bill.total_minor == 125_000
    vendor = Vendor.objects.get(pk=books.vendor.pk)
    assert (vendor.open_balance_minor, vendor.version) == (125_000, 1)
    assert balance(books.account("2000")) == -125_000
    assert balance(books.account("6000")) == 124_900
    assert bill.journal_entry.status == JournalEntry.Status.POSTED
    assert bill.journal_entry.source_type == "BILL"
    assert_invariants_hold()


def test_submit_then_post_pays_the_bill_once(books, bill):
    actor = books.actor("clerk", "UI")
    payment = commands.payment_submit(
        actor, bill_id=bill.id, amount_minor=125_000, currency_code="USD"
    )
    assert payment.status == Payment.Status.SUBMITTED
    assert Bill.objects.get(pk=bill.pk).in_flight_payment_id == payment.id
    assert_invariants_hold()

    posted = commands.payment_post(actor, payment_id=payment.id)
    assert posted.status == Payment.Status.POSTED
    bill = Bill.objects.get(pk=bill.pk)
    assert (bill.balance_due_minor, bill.status, bill.in_flight_payment_id) == (0, "PAID", None)
    vendor = Vendor.objects.get(pk=books.vendor.pk)
    assert (vendor.open_balance_minor, vendor.version) == (0, 2)
    assert balance(books.account("2000")) == 0
    assert balance(books.account("1000")) == -125_000
    types = set(OutboxEvent.objects.values_list("event_type", flat=True))
    assert {"payment.submitted", "payment.posted", "balance.updated"} <= types
    vendor_events = OutboxEvent.objects.filter(
        event_type="balance.updated", payload__vendor_id=str(books.vendor.id)
    )
    assert [e.payload["balance_minor"] for e in vendor_events.order_by("id")] == [125_000, 0]
    assert_invariants_hold()


def test_partial_payments_until_zero(books, bill):
    actor = books.actor("integration", "API")
    for amount in (50_000, 50_000, 25_000):
        commands.payment_submit(
            actor, bill_id=bill.id, amount_minor=amount, currency_code="USD", post=True
        )
        assert_invariants_hold()
    bill = Bill.objects.get(pk=bill.pk)
    assert (bill.balance_due_minor, bill.status) == (0, Bill.Status.PAID)
    with pytest.raises(errors.DuplicatePaymentAttempt):
        commands.payment_submit(actor, bill_id=bill.id, amount_minor=1, currency_code="USD")
    assert Vendor.objects.get(pk=books.vendor.pk).open_balance_minor == 0


def test_overpayment_and_currency_mismatch_are_refused(books, bill):
    actor = books.actor("integration", "API")
    with pytest.raises(errors.Overpayment):
        commands.payment_submit(actor, bill_id=bill.id, amount_minor=125_001, currency_code="USD")
    with pytest.raises(errors.CurrencyMismatch):
        commands.payment_submit(actor, bill_id=bill.id, amount_minor=100, currency_code="EUR")
    assert not Payment.objects.exists()
    rejected = AuditEvent.objects.filter(outcome="REJECTED", object_id=str(bill.id))
    assert set(rejected.values_list("reason_code", flat=True)) == {
        "payment.overpayment",
        "payment.currency_mismatch",
    }


def test_void_of_in_flight_payment_frees_the_bill(books, bill):
    actor = books.actor("clerk", "UI")
    first = commands.payment_submit(
        actor, bill_id=bill.id, amount_minor=125_000, currency_code="USD"
    )
    voided = commands.payment_void(
        actor, payment_id=first.id, reason_code="disbursement_failed", reason="Bank bounced it"
    )
    assert voided.status == Payment.Status.VOID
    assert voided.void_reason_code == "disbursement_failed"
    assert Bill.objects.get(pk=bill.pk).in_flight_payment_id is None
    again = commands.payment_submit(
        actor, bill_id=bill.id, amount_minor=125_000, currency_code="USD", post=True
    )
    assert again.status == Payment.Status.POSTED
    assert_invariants_hold()


def test_void_of_posted_payment_reverses_everything(books, bill):
    actor = books.actor("integration", "API")
    paid = commands.payment_submit(
        actor, bill_id=bill.id, amount_minor=100_000, currency_code="USD", post=True
    )
    commands.payment_void(actor, payment_id=paid.id, reason_code="recalled", reason="Recalled")
    bill = Bill.objects.get(pk=bill.pk)
    assert (bill.balance_due_minor, bill.status) == (125_000, Bill.Status.OPEN)
    vendor = Vendor.objects.get(pk=books.vendor.pk)
    assert (vendor.open_balance_minor, vendor.version) == (125_000, 3)
    assert balance(books.account("1000")) == 0
    assert balance(books.account("2000")) == -125_000
    reversal = Payment.objects.get(pk=paid.pk).reversal_journal_entry
    assert reversal.status == JournalEntry.Status.POSTED
    with pytest.raises(errors.PaymentInvalidTransition):
        commands.payment_void(actor, payment_id=paid.id, reason_code="again")
    assert_invariants_hold()


def test_idempotent_replay_and_key_reuse(books, bill):
    actor = books.actor("integration", "API")
    first = commands.payment_submit(
        actor, bill_id=bill.id, amount_minor=1_000, currency_code="USD", external_id="k-1"
    )
    replay = commands.payment_submit(
        actor, bill_id=bill.id, amount_minor=1_000, currency_code="USD", external_id="k-1"
    )
    assert replay.id == first.id and replay.replayed
    with pytest.raises(IdempotencyKeyReused):
        commands.payment_submit(
            actor, bill_id=bill.id, amount_minor=2_000, currency_code="USD", external_id="k-1"
        )
    assert Payment.objects.count() == 1


def test_stale_expected_version_is_a_conflict_with_current_version(books, bill):
    actor = books.actor("integration", "API")
    with pytest.raises(OptimisticLockConflict) as conflict:
        commands.payment_submit(
            actor, bill_id=bill.id, amount_minor=1_000, currency_code="USD", expected_version=0
        )
    assert conflict.value.extra["current_version"] == 1
    ok = commands.payment_submit(
        actor, bill_id=bill.id, amount_minor=1_000, currency_code="USD", expected_version=1
    )
    assert ok.status == Payment.Status.SUBMITTED


def test_foreign_currency_bill_paid_after_rate_moved_books_fx_difference(transactional_db):
    books = make_books("USD", vendor_currency="EUR")
    fx_rate("EUR", "USD", "1.1000", today() - timedelta(days=10))
    bill = make_bill(books, 100_000, bill_date=today() - timedelta(days=5))
    assert bill.functional_total_minor == 110_000
    fx_rate("EUR", "USD", "1.0500", today())
    actor = books.actor("integration", "API")
    first = commands.payment_submit(
        actor, bill_id=bill.id, amount_minor=40_000, currency_code="EUR", post=True
    )
    second = commands.payment_submit(
        actor, bill_id=bill.id, amount_minor=60_000, currency_code="EUR", post=True
    )
    assert first.carrying_functional_minor + second.carrying_functional_minor == 110_000
    assert balance(books.account("2000")) == 0  # AP fully relieved at the bill's rate
    assert balance(books.account("1000")) == -105_000  # paid at today's rate
    assert balance(books.account("7900")) == -5_000  # realized FX gain
    fx_lines = JournalEntryLine.objects.filter(coa_account=books.account("7900"))
    assert {line.direction for line in fx_lines} == {"CREDIT"}
    assert_invariants_hold()


def test_payment_needs_an_open_period_today(books, bill):
    from ledger import commands as ledger
    from ledger.models import Period
    from platform_integrity.context import Actor

    period = Period.objects.get(entity=books.entity)
    ledger.period_close(Actor.system(), period_id=period.id)
    with pytest.raises(Exception) as err:
        commands.payment_submit(
            books.actor("integration", "API"),
            bill_id=bill.id,
            amount_minor=1_000,
            currency_code="USD",
            post=True,
        )
    assert getattr(err.value, "code", "") == "period.locked"
    assert not Payment.objects.exists()
    assert Bill.objects.get(pk=bill.pk).in_flight_payment_id is None
