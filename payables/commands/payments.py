"""Payments: the one command path that pays a bill, whatever the door.

`payment_submit` puts a payment in flight (or, with `post`, submits and posts it in
one go); `payment_post` confirms a disbursement; `payment_void` frees the bill's
in-flight lock, reversing a posted payment. Rows are locked in the lock order: bill,
payment, vendor, then the GL balances.
"""

import copy
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.utils import timezone

from ledger import money
from ledger.balances import send_role_locks
from ledger.journal import (
    Journal,
    entities_with_accounts,
    send_entities_with_accounts,
    send_period_covering,
)
from ledger.lines import reversing
from ledger.models import Entity, JournalEntryLine
from payables import events, gl, rules
from payables.commands.common import not_found
from payables.commands.vendors import move_open_balance
from payables.models import Bill, Payment, Vendor
from platform_integrity import audit, idempotency, outbox, permissions, reads, record
from platform_integrity.batching import Batching
from platform_integrity.command import command
from platform_integrity.context import Actor
from platform_integrity.errors import ValidationFailed
from platform_integrity.ids import as_uuid, entity_id_of
from platform_integrity.locks import lock_one, send_lock, send_lock_where
from platform_integrity.unit import Request, current

IDEMPOTENCY_SCOPE = "payment"
# The accounts every payment's entry posts to (the FX gain/loss account only some).
PAYMENT_ROLES = ("ap_control_account", "bank_account")
# What posting or voiding a payment changes.
PAYMENT_STATE = [
    "status",
    "posted_at",
    "carrying_functional_minor",
    "journal_entry",
    "voided_at",
    "void_reason_code",
    "void_reason",
    "reversal_journal_entry",
]
BILL_STATE = ["balance_due_minor", "in_flight_payment", "status"]


@dataclass
class Payments:
    """What a batch of payments reads once: the bills and their vendors (locked), the
    entities with their accounts, and each entity's journal."""

    bills: dict[UUID, Bill]
    vendors: dict[UUID, Vendor]
    entities: dict[UUID, Entity]
    journals: dict[UUID, Journal] = field(default_factory=dict)


def _prepare(requests: list[Request]) -> Payments:
    """Locked, in lock order: the bills, their vendors and the balances every payment of
    the unit's entity posts to. Read: that entity with its accounts, today's period and
    the audit head. All are sent before any is read: in the unit's pipeline, one round
    trip. (A bill of another entity, which a batch never holds but could, has its entity
    read when found.)
    """
    uow = current()
    today = timezone.localdate()
    bill_ids = {pk for request in requests if (pk := as_uuid(request.kwargs.get("bill_id")))}
    sent_bills = send_lock(Bill, bill_ids)
    sent_vendors = send_lock_where(
        Vendor,
        f"id = ANY({reads.array_of(Bill, ('vendor',), 'id = ANY(%s::uuid[])')})",
        [[str(pk) for pk in bill_ids]],
    )
    if uow.entity_id is not None:
        sent_balances = send_role_locks({uow.entity_id}, PAYMENT_ROLES)
        sent_entities = send_entities_with_accounts({uow.entity_id})
        sent_period = send_period_covering(uow.entity_id, today)
        audit.send_head(uow)
    batch = Payments(
        bills={bill.id: bill for bill in sent_bills.rows()},
        vendors={vendor.id: vendor for vendor in sent_vendors.rows()},
        entities={},
    )
    if uow.entity_id is not None:
        locked = {row.account_id: row for row in sent_balances.rows()}
        batch.entities = sent_entities()
        if uow.entity_id in batch.entities:
            journal = Journal(batch.entities[uow.entity_id], locked=locked)
            journal.expect_period(today, sent_period)
            batch.journals[uow.entity_id] = journal
    strays = {bill.entity_id for bill in batch.bills.values()} - batch.entities.keys()
    if strays:
        batch.entities.update(entities_with_accounts(strays))
    return batch


@command(
    "payables.payment_submit",
    batch=Batching(prepare=_prepare, first_lock="bill", entity_row=(Bill, "bill_id")),
)
def payment_submit(
    actor: Actor,
    *,
    bill_id: Any,
    amount_minor: int | None = None,
    currency_code: str | None = None,
    external_id: str | None = None,
    expected_version: int | None = None,
    entity_id: Any = None,
    post: bool = False,
    batch: Payments,
) -> Payment:
    """Submit a payment of a bill, its bill and vendor locked (posted at once with `post`).

    `amount_minor` / `currency_code` default to the bill's full balance due and
    currency. `entity_id`, when given, must be the bill's. A replayed `external_id`
    returns the original payment with `replayed` set. Every check and every
    conversion comes before the first change, so a refused request leaves nothing.
    """
    rules.check_channel(actor)
    permissions.require(actor, rules.PAY, "pay bills", object_type="bill")
    bill = batch.bills.get(as_uuid(bill_id))
    if bill is None or (entity_id is not None and bill.entity_id != as_uuid(entity_id)):
        raise not_found("bill", bill_id)
    request = {
        "bill_id": str(bill.id),
        "amount_minor": amount_minor,
        "currency_code": currency_code,
        "expected_version": expected_version,
        "post": post,
    }
    if external_id:
        original = idempotency.recall(bill.entity_id, IDEMPOTENCY_SCOPE, external_id, request)
        if original is not None:
            return _replayed_payment(original)
    vendor = batch.vendors[bill.vendor_id]
    amount = bill.balance_due_minor if amount_minor is None else amount_minor
    currency = currency_code or bill.currency_code
    rules.guard_payable(actor, bill, amount, currency, external_id)
    rules.check_version(vendor, expected_version)

    payment = Payment(
        entity_id=bill.entity_id,
        bill=bill,
        amount_minor=amount,
        currency_code=currency,
        channel=actor.channel,
        external_id=external_id or None,
        created_by=actor.user,
    )
    payment.submit(at=timezone.now())
    journal = batch.journals.get(bill.entity_id) or batch.journals.setdefault(
        bill.entity_id, Journal(batch.entities[bill.entity_id])
    )
    entry, carrying = _gl_entry(actor, journal, bill, payment) if post else (None, 0)

    if external_id:
        idempotency.remember(bill.entity_id, IDEMPOTENCY_SCOPE, external_id, request, payment.id)
    record.created(
        payment,
        actor,
        payload={
            "bill_id": bill.id,
            "amount_minor": amount,
            "currency_code": currency,
            "external_id": external_id,
            "post": post,
        },
    )
    bill.in_flight_payment = payment
    outbox.emit("payment.submitted", events.payment_event(payment, bill))
    if entry is None:
        current().changes.change(bill, BILL_STATE, actor)
    else:
        # Submitted and posted in one transaction: nobody can see the in-between
        # state, so the rows are written once, as posted (the audit has both steps).
        _post(actor, payment, bill, vendor, entry, carrying)
    return payment


def _replayed_payment(payment_id: str) -> Payment:
    """The payment an earlier request with the same key made: in this unit, or stored."""
    made = current().changes.added(Payment, id=as_uuid(payment_id))
    payment = copy.copy(made) if made else Payment.objects.get(pk=payment_id)
    payment.replayed = True
    return payment


def _gl_entry(actor: Actor, journal: Journal, bill: Bill, payment: Payment):
    """The GL entry that posts `payment` (checked and converted, posted with the unit) and
    the AP carrying amount it relieves."""
    today = timezone.localdate()
    entity = journal.entity
    rate = money.spot_rate(payment.currency_code, entity.functional_currency, today)
    lines, carrying = gl.payment_lines(entity, bill, payment, rate)
    entry = journal.add(
        actor,
        posting_date=today,
        memo=f"Payment of bill {bill.number}",
        lines=lines,
        source_type="PAYMENT",
        source_id=str(payment.id),
    )
    return entry, carrying


def _post(actor: Actor, payment: Payment, bill: Bill, vendor: Vendor, entry, carrying: int) -> None:
    """Post a SUBMITTED payment whose bill and vendor rows are locked."""
    payment.post(at=timezone.now())
    payment.carrying_functional_minor = carrying
    payment.journal_entry = entry
    bill.balance_due_minor -= payment.amount_minor
    bill.in_flight_payment = None
    rules.settle_status(bill)
    current().changes.change(bill, BILL_STATE, actor)
    move_open_balance(
        actor, vendor, -payment.amount_minor, {"type": "payment", "id": str(payment.id)}
    )
    record.changed(
        payment,
        PAYMENT_STATE,
        actor,
        action="payables.payment_post",
        payload={
            "bill_id": bill.id,
            "amount_minor": payment.amount_minor,
            "carrying_functional_minor": carrying,
            "journal_entry_id": entry.id,
            "bill_balance_due_minor": bill.balance_due_minor,
        },
    )
    outbox.emit("payment.posted", events.payment_event(payment, bill))


def _payment_entity(*, payment_id: Any, **_: Any) -> UUID | None:
    return entity_id_of(Payment, payment_id)


def _lock_payment(payment_id: Any) -> tuple[Payment, Bill, Vendor]:
    """Lock a payment with its bill and vendor, in lock order (bill, payment, vendor)."""
    bill_id = (
        Payment.objects.filter(pk=as_uuid(payment_id)).values_list("bill_id", flat=True).first()
        if as_uuid(payment_id)
        else None
    )
    if bill_id is None:
        raise not_found("payment", payment_id)
    bill = lock_one(Bill, bill_id)
    payment = lock_one(Payment, payment_id)
    vendor = lock_one(Vendor, bill.vendor_id)
    return payment, bill, vendor


@command("payables.payment_post", entity_of=_payment_entity)
def payment_post(actor: Actor, *, payment_id: UUID) -> Payment:
    """The disbursement is confirmed: the payment posts and frees its bill."""
    permissions.require(
        actor, rules.PAY, "post payments", object_type="payment", object_id=str(payment_id)
    )
    payment, bill, vendor = _lock_payment(payment_id)
    rules.refuse_unless(payment, "posted", (Payment.Status.SUBMITTED,))
    journal = Journal(entities_with_accounts({bill.entity_id})[bill.entity_id])
    entry, carrying = _gl_entry(actor, journal, bill, payment)
    _post(actor, payment, bill, vendor, entry, carrying)
    return payment


@command("payables.payment_void", entity_of=_payment_entity)
def payment_void(actor: Actor, *, payment_id: UUID, reason_code: str, reason: str = "") -> Payment:
    """Void a payment: frees the bill's in-flight lock; a POSTED payment is reversed."""
    permissions.require(
        actor, rules.PAY, "void payments", object_type="payment", object_id=str(payment_id)
    )
    payment, bill, vendor = _lock_payment(payment_id)
    rules.refuse_unless(
        payment,
        "voided",
        (Payment.Status.DRAFT, Payment.Status.SUBMITTED, Payment.Status.POSTED),
    )
    if not reason_code.strip():
        raise ValidationFailed(
            "A void needs a reason code.",
            field="reason_code",
            object_type="payment",
            object_id=str(payment.id),
        )
    was_posted = payment.status == Payment.Status.POSTED
    if was_posted:
        _reverse(actor, payment, bill, vendor)
    if bill.in_flight_payment_id == payment.id:
        bill.in_flight_payment = None
    payment.void(at=timezone.now(), reason_code=reason_code, reason=reason)
    current().changes.change(bill, BILL_STATE, actor)
    record.changed(
        payment,
        PAYMENT_STATE,
        actor,
        payload={
            "bill_id": bill.id,
            "reason_code": reason_code,
            "reason": reason,
            "was_posted": was_posted,
            "reversal_journal_entry_id": payment.reversal_journal_entry_id,
        },
    )
    outbox.emit("payment.voided", events.payment_event(payment, bill))
    return payment


def _reverse(actor: Actor, payment: Payment, bill: Bill, vendor: Vendor) -> None:
    """Undo a posted payment: reversing GL entry, balance due and vendor balance restored."""
    original = JournalEntryLine.objects.filter(journal_entry_id=payment.journal_entry_id)
    entry = Journal(Entity.objects.get(pk=bill.entity_id)).add(
        actor,
        posting_date=timezone.localdate(),
        memo=f"Reversal of payment of bill {bill.number}",
        lines=reversing(list(original.order_by("line_no")), memo_prefix="Reversal: "),
        source_type="PAYMENT_VOID",
        source_id=str(payment.id),
    )
    payment.reversal_journal_entry = entry
    bill.balance_due_minor += payment.amount_minor
    rules.settle_status(bill)
    move_open_balance(
        actor, vendor, payment.amount_minor, {"type": "payment_void", "id": str(payment.id)}
    )
