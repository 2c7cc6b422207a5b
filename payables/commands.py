"""The only writers of payables: vendors, bills, payments and their balances.

Every money change runs as a guarded unit of work (`@command`). Rows are locked
in the platform's lock order: bill, then payment, then vendor, then the GL
balances (locked inside ledger posting). `balance_due_minor`,
`open_balance_minor`, `version` and payment status are written here and
nowhere else (tests/payables/test_no_bypass.py enforces it).
"""

import copy
import functools
import logging
import random
import time
import uuid
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from ledger import money
from ledger.models import Entity, JournalEntry, JournalEntryLine
from ledger.posting import (
    Journal,
    entities_with_accounts,
    post_entry,
    required_account,
    send_entities_with_accounts,
    send_period_covering,
    send_role_balance_locks,
)
from payables import events
from payables.errors import (
    BillCurrencyMismatch,
    BillInvalid,
    BillNumberTaken,
    ChannelInvalid,
    CurrencyMismatch,
    DuplicatePaymentAttempt,
    Overpayment,
    PaymentAmountInvalid,
    PaymentInvalidTransition,
    VendorInvalid,
)
from payables.models import Bill, BillLine, Payment, PaymentRun, PaymentRunItem, Vendor
from platform_integrity import (
    audit,
    bulk,
    coalescing,
    history,
    idempotency,
    outbox,
    permissions,
    reads,
)
from platform_integrity.context import Actor
from platform_integrity.errors import (
    DatabaseUnavailable,
    DomainError,
    NotFound,
    OptimisticLockConflict,
    RetryLater,
    ValidationFailed,
)
from platform_integrity.ids import as_uuid, entity_id_of
from platform_integrity.locks import lock_one, send_lock, send_lock_where
from platform_integrity.models import AccountBalance
from platform_integrity.unit_of_work import Coalescing, Request, UnitOfWork, command, current

logger = logging.getLogger(__name__)

DEBIT = JournalEntryLine.Direction.DEBIT
CREDIT = JournalEntryLine.Direction.CREDIT
IDEMPOTENCY_SCOPE = "payment"
# Built once: an enum's `values` walks its members on every call.
PAYMENT_CHANNELS = frozenset(Payment.Channel.values)
# The accounts every payment's entry posts to (the FX gain/loss account only some).
PAYMENT_ROLES = ("ap_control_account", "bank_account")


def _entity_kwarg(*, entity_id: Any = None, **_: Any) -> UUID | None:
    return as_uuid(entity_id) if entity_id is not None else None


def _payment_entity(*, payment_id: Any, **_: Any) -> UUID | None:
    return entity_id_of(Payment, payment_id)


def _not_found(label: str, pk: Any) -> NotFound:
    return NotFound(f"No {label} {pk}.", object_type=label, object_id=str(pk))


def _entity(entity_id: Any) -> Entity:
    entity = Entity.objects.filter(pk=as_uuid(entity_id)).first() if as_uuid(entity_id) else None
    if entity is None:
        raise _not_found("entity", entity_id)
    return entity


def _lock(model: type, pk: Any, label: str):
    row = lock_one(model, pk) if as_uuid(pk) else None
    if row is None:
        raise _not_found(label, pk)
    return row


# Vendors and bills -------------------------------------------------------------------


def _replayed(model: type, object_id: str):
    """The object an earlier request with the same idempotency key created."""
    original = model.objects.get(pk=object_id)
    original.replayed = True
    return original


@command("payables.vendor_create", entity_of=_entity_kwarg)
def vendor_create(
    actor: Actor,
    *,
    entity_id: UUID,
    name: str,
    currency_code: str,
    external_id: str | None = None,
) -> Vendor:
    """A vendor; a replayed `external_id` returns the original with `replayed` set."""
    permissions.require(actor, "payables.manage_vendor", "create vendors")
    entity = _entity(entity_id)
    request = {"name": name, "currency_code": currency_code}
    if external_id:
        original = idempotency.recall(entity.id, "vendor", external_id, request)
        if original is not None:
            return _replayed(Vendor, original)
    money.exponent(currency_code)
    if not name.strip():
        raise VendorInvalid("A vendor needs a name.", field="name")
    vendor = Vendor(entity=entity, name=name.strip(), currency_code=currency_code)
    vendor._history_user = actor.user
    vendor.save(force_insert=True)
    if external_id:
        idempotency.remember(entity.id, "vendor", external_id, request, vendor.id)
    audit.record(
        action="payables.vendor_create",
        object_type="vendor",
        object_id=str(vendor.id),
        payload={"entity_id": entity.id, "name": vendor.name, "currency_code": currency_code},
    )
    return vendor


def _validate_bill(
    entity: Entity, vendor: Vendor, number: str, currency_code: str, bill_date, due_date, lines
) -> None:
    if vendor.entity_id != entity.id:
        raise VendorInvalid("The vendor belongs to another entity.", field="vendor_id")
    money.exponent(currency_code)
    if currency_code != vendor.currency_code:
        raise BillCurrencyMismatch(
            f"Vendor {vendor.name} is billed in {vendor.currency_code}, not {currency_code}.",
            vendor_currency_code=vendor.currency_code,
        )
    if not number.strip():
        raise BillInvalid("A bill needs a number.", field="number")
    if due_date < bill_date:
        raise BillInvalid("The due date cannot be before the bill date.", field="due_date")
    if not lines:
        raise BillInvalid("A bill needs at least one line.", field="lines")
    non_positive = [i for i, line in enumerate(lines) if line["amount_minor"] <= 0]
    if non_positive:
        raise BillInvalid("Every line amount must be greater than zero.", lines=non_positive[:50])
    if sum(line["amount_minor"] for line in lines) > money.MAX_MINOR:
        raise BillInvalid(
            f"The bill's lines add up to more than a ledger amount can hold "
            f"({money.MAX_MINOR} minor units).",
            field="lines",
            max_minor=money.MAX_MINOR,
        )
    if Bill.objects.filter(vendor=vendor, number=number).exists():
        raise BillNumberTaken(
            f"Vendor {vendor.name} already has a bill numbered {number}.", number=number
        )


@command("payables.bill_create", entity_of=_entity_kwarg)
def bill_create(
    actor: Actor,
    *,
    entity_id: UUID,
    vendor_id: UUID,
    number: str,
    currency_code: str,
    bill_date: date,
    due_date: date,
    lines: list[dict[str, Any]],
    external_id: str | None = None,
) -> Bill:
    """Enter a bill: Dr its expense lines, Cr AP control at the bill date's spot rate.

    A replayed `external_id` returns the original bill with `replayed` set.
    """
    permissions.require(actor, "payables.enter_bill", "enter bills")
    entity = _entity(entity_id)
    request = {
        "vendor_id": str(vendor_id),
        "number": number,
        "currency_code": currency_code,
        "bill_date": bill_date,
        "due_date": due_date,
        "lines": lines,
    }
    if external_id:
        original = idempotency.recall(entity.id, "bill", external_id, request)
        if original is not None:
            return _replayed(Bill, original)
    vendor = _lock(Vendor, vendor_id, "vendor")
    _validate_bill(entity, vendor, number, currency_code, bill_date, due_date, lines)
    ap = required_account(entity, "ap_control_account")
    bill_id = uuid.uuid4()
    total = sum(line["amount_minor"] for line in lines)
    entry = post_entry(
        actor,
        entity=entity,
        posting_date=bill_date,
        memo=f"Bill {number} from {vendor.name}",
        lines=[
            {
                "account_id": line["coa_account_id"],
                "direction": DEBIT,
                "amount_minor": line["amount_minor"],
                "currency_code": currency_code,
                "memo": line.get("memo", ""),
            }
            for line in lines
        ]
        + [
            {
                "account_id": ap.id,
                "direction": CREDIT,
                "amount_minor": total,
                "currency_code": currency_code,
                "memo": f"AP: bill {number}",
            }
        ],
        source_type="BILL",
        source_id=str(bill_id),
    )
    bill = Bill(
        id=bill_id,
        entity=entity,
        vendor=vendor,
        number=number,
        currency_code=currency_code,
        bill_date=bill_date,
        due_date=due_date,
        total_minor=total,
        balance_due_minor=total,
        functional_total_minor=entry.total_debit_minor,
        journal_entry=entry,
        created_by=actor.user,
    )
    bill._history_user = actor.user
    bill.save(force_insert=True)
    if external_id:
        idempotency.remember(entity.id, "bill", external_id, request, bill.id)
    BillLine.objects.bulk_create(
        BillLine(
            bill=bill,
            line_no=i + 1,
            coa_account_id=line["coa_account_id"],
            amount_minor=line["amount_minor"],
            memo=line.get("memo", ""),
        )
        for i, line in enumerate(lines)
    )
    changes = Changes()
    _vendor_balance_change(actor, changes, vendor, total, {"type": "bill", "id": str(bill.id)})
    changes.save()
    audit.record(
        action="payables.bill_create",
        object_type="bill",
        object_id=str(bill.id),
        payload={
            "vendor_id": vendor.id,
            "number": number,
            "currency_code": currency_code,
            "total_minor": total,
            "journal_entry_id": entry.id,
        },
    )
    outbox.emit("bill.created", events.bill_event(bill))
    return bill


class Changes:
    """The payables rows one unit of work changes, written at its end: one statement per table.

    Bills, vendors and payments change in memory under their row locks, request
    after request, so each request sees what the ones before it did. Every
    change is kept as a historical snapshot (with its actor); the rows reach the
    tables once, with their final values, together with the journal's entries.
    """

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

    def __init__(self) -> None:
        self._journals: dict[UUID, Journal] = {}
        self._created: dict[UUID, tuple[Payment, Actor]] = {}
        self._rows: dict[type, dict[UUID, Any]] = {Payment: {}, Bill: {}, Vendor: {}}
        self._history: dict[type, list[dict[str, Any]]] = {Payment: [], Bill: [], Vendor: []}

    def journal(
        self, entity: Entity, *, balances: Mapping[UUID, AccountBalance] | None = None
    ) -> Journal:
        """The entity's journal in this unit; `balances`: its balance rows locked already."""
        if entity.id not in self._journals:
            self._journals[entity.id] = Journal(entity, balances=balances)
        return self._journals[entity.id]

    def payment_created(self, payment: Payment, actor: Actor) -> None:
        self._created[payment.id] = (payment, actor)

    def changed(self, row: Payment | Bill | Vendor, actor: Actor) -> None:
        self._rows[type(row)][row.id] = row
        self._history[type(row)].append(history.row(row, actor, update=True))

    def payment(self, payment_id: Any) -> Payment:
        """A payment of this unit or a stored one, as the replay of an idempotency key."""
        created = self._created.get(as_uuid(payment_id))
        payment = copy.copy(created[0]) if created else Payment.objects.get(pk=payment_id)
        payment.replayed = True
        return payment

    def save(self) -> None:
        for journal in self._journals.values():
            journal.write()
        with bulk.pipelined():
            self._write()

    def _write(self) -> None:
        if self._created:
            bulk.insert([payment for payment, _ in self._created.values()])
            history.write(
                Payment,
                [history.row(p, actor, update=False) for p, actor in self._created.values()],
            )
        for model, fields in (
            (Payment, self.PAYMENT_STATE),
            (Bill, ["balance_due_minor", "in_flight_payment", "status"]),
            (Vendor, ["open_balance_minor", "version"]),
        ):
            if self._rows[model]:
                bulk.update(list(self._rows[model].values()), fields)
                history.write(model, self._history[model])


def _vendor_balance_change(
    actor: Actor, changes: Changes, vendor: Vendor, delta: int, cause: dict
) -> None:
    """Move a locked vendor's open balance; every change bumps its version."""
    vendor.open_balance_minor += delta
    vendor.version += 1
    changes.changed(vendor, actor)
    outbox.emit("balance.updated", events.vendor_balance_event(vendor, delta, cause))


def _settle_status(bill: Bill) -> None:
    if bill.balance_due_minor == 0:
        bill.mark_paid()
    elif bill.balance_due_minor < bill.total_minor:
        bill.mark_partially_paid()
    elif bill.status != Bill.Status.OPEN:
        bill.reopen()


# Payments ----------------------------------------------------------------------------


def _guard_payable(
    actor: Actor, bill: Bill, amount_minor: int, currency_code: str, external_id: str | None
) -> None:
    """The duplicate guard; runs with the bill row locked."""
    if bill.in_flight_payment_id or bill.balance_due_minor <= 0:
        reason = (
            f"payment {bill.in_flight_payment_id} is in flight"
            if bill.in_flight_payment_id
            else "it is already paid"
        )
        raise DuplicatePaymentAttempt(
            f"Bill {bill.number} cannot be paid again: {reason}.",
            bill_id=str(bill.id),
            in_flight_payment_id=str(bill.in_flight_payment_id)
            if bill.in_flight_payment_id
            else None,
            balance_due_minor=bill.balance_due_minor,
            channel=actor.channel,
            external_id=external_id,
            object_type="bill",
            object_id=str(bill.id),
        )
    if currency_code != bill.currency_code:
        raise CurrencyMismatch(
            f"Bill {bill.number} is in {bill.currency_code}, not {currency_code}.",
            bill_currency_code=bill.currency_code,
            object_type="bill",
            object_id=str(bill.id),
        )
    if amount_minor <= 0:
        raise PaymentAmountInvalid(
            "A payment must be greater than zero.", object_type="bill", object_id=str(bill.id)
        )
    if amount_minor > bill.balance_due_minor:
        raise Overpayment(
            f"{amount_minor} exceeds the balance due of {bill.balance_due_minor}.",
            balance_due_minor=bill.balance_due_minor,
            object_type="bill",
            object_id=str(bill.id),
        )


def _check_version(vendor: Vendor, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != vendor.version:
        raise OptimisticLockConflict(
            f"Vendor {vendor.name}'s balance is at version {vendor.version}, "
            f"not {expected_version}.",
            object_type="vendor",
            object_id=str(vendor.id),
            current_version=vendor.version,
            retry="Read GET /v1/vendors/{id} again and resend with its current version.",
        )


def _payment_ref(payment: Payment) -> dict[str, Any]:
    return {"row": coalescing.dump_row(payment), "replayed": payment.replayed}


def _payment_from_ref(ref: dict[str, Any]) -> Payment:
    payment = coalescing.load_row(Payment, ref["row"])
    payment.replayed = ref["replayed"]
    return payment


@command(
    "payables.payment_submit",
    coalesce=Coalescing(
        dump=_payment_ref, load=_payment_from_ref, entity_row=(Bill, "bill_id"), first_lock="bill"
    ),
)
def payment_submit(requests: list[Request]) -> list[Payment | DomainError]:
    """Submit payments of bills (each posted at once when its `post` is set).

    Called as `payment_submit(actor, bill_id=..., ...)`; calls waiting for the
    same entity are answered together (`platform_integrity.coalescing`). Every
    bill asked for is locked, then the vendors, then — when posting — the GL
    balances, and each request is checked in turn against what the ones before
    it changed (`_submit`).
    """
    uow = current()
    bill_ids = {pk for request in requests if (pk := as_uuid(request.kwargs.get("bill_id")))}
    changes, bills, vendors, entities = _read_batch(uow, bill_ids)
    outcomes: list[Payment | DomainError] = []
    for request in requests:
        with uow.acting_as(request.actor):
            try:
                payment = _submit(
                    request.actor, changes, bills, vendors, entities, **request.kwargs
                )
            except DomainError as err:
                outcomes.append(err)
            else:
                outcomes.append(payment)
    changes.save()
    return outcomes


def _read_batch(
    uow: UnitOfWork, bill_ids: set[UUID]
) -> tuple[Changes, dict[UUID, Bill], dict[UUID, Vendor], dict[UUID, Entity]]:
    """Every row a batch of payments reads. Locked, in lock order: the bills, their
    vendors and the balances every payment of the unit's entity posts to. Read: that
    entity with its accounts, today's period and the audit head. All are sent before
    any is read: in the unit's pipeline, one round trip. (A bill of another entity,
    which a batch never holds but could, has its entity read when found.)
    """
    today = timezone.localdate()
    sent_bills = send_lock(Bill, bill_ids)
    sent_vendors = send_lock_where(
        Vendor,
        f"id = ANY({reads.array_of(Bill, ('vendor',), 'id = ANY(%s::uuid[])')})",
        [[str(pk) for pk in bill_ids]],
    )
    if uow.entity_id is not None:
        sent_balances = send_role_balance_locks({uow.entity_id}, PAYMENT_ROLES)
        sent_entities = send_entities_with_accounts({uow.entity_id})
        sent_period = send_period_covering(uow.entity_id, today)
        audit.send_head(uow)
    bills = {bill.id: bill for bill in sent_bills.rows()}
    vendors = {vendor.id: vendor for vendor in sent_vendors.rows()}
    changes = Changes()
    entities: dict[UUID, Entity] = {}
    if uow.entity_id is not None:
        locked = {row.account_id: row for row in sent_balances.rows()}
        entities = sent_entities()
        if uow.entity_id in entities:
            journal = changes.journal(entities[uow.entity_id], balances=locked)
            journal.expect_period(today, sent_period)
    strays = {bill.entity_id for bill in bills.values()} - entities.keys()
    if strays:
        entities.update(entities_with_accounts(strays))
    return changes, bills, vendors, entities


def _submit(
    actor: Actor,
    changes: Changes,
    bills: dict[UUID, Bill],
    vendors: dict[UUID, Vendor],
    entities: dict[UUID, Entity],
    *,
    bill_id: Any,
    amount_minor: int | None = None,
    currency_code: str | None = None,
    external_id: str | None = None,
    expected_version: int | None = None,
    entity_id: Any = None,
    post: bool = False,
) -> Payment:
    """One payment request, its bill and vendor locked.

    `amount_minor` / `currency_code` default to the bill's full balance due and
    currency. `entity_id`, when given, must be the bill's. A replayed
    `external_id` returns the original payment with `replayed` set. Every check
    and every conversion comes before the first change, so a refused request
    leaves nothing behind.
    """
    if actor.channel not in PAYMENT_CHANNELS:
        raise ChannelInvalid(f"Payments cannot be made through channel {actor.channel}.")
    permissions.require(actor, "payables.pay_bill", "pay bills", object_type="bill")
    bill = bills.get(as_uuid(bill_id))
    if bill is None or (entity_id is not None and bill.entity_id != as_uuid(entity_id)):
        raise _not_found("bill", bill_id)
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
            return changes.payment(original)
    vendor = vendors[bill.vendor_id]
    amount = bill.balance_due_minor if amount_minor is None else amount_minor
    currency = currency_code or bill.currency_code
    _guard_payable(actor, bill, amount, currency, external_id)
    _check_version(vendor, expected_version)

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
    entity = entities[bill.entity_id]
    posting = _payment_entry(actor, changes, entity, bill, payment) if post else None

    if external_id:
        idempotency.remember(bill.entity_id, IDEMPOTENCY_SCOPE, external_id, request, payment.id)
    audit.record(
        action="payables.payment_submit",
        object_type="payment",
        object_id=str(payment.id),
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
    if posting is None:
        changes.changed(bill, actor)
    else:
        # Submitted and posted in one transaction: nobody can see the in-between
        # state, so the rows are written once, as posted (the audit has both steps).
        _post(actor, changes, payment, bill, vendor, posting)
    changes.payment_created(payment, actor)
    return payment


def _carrying(bill: Bill, balance_due_minor: int) -> int:
    """The AP carrying amount (functional) of `balance_due_minor` of this bill."""
    return money.half_even(
        Decimal(bill.functional_total_minor) * balance_due_minor / bill.total_minor
    )


def _payment_lines(entity: Entity, bill: Bill, payment: Payment, on: date) -> tuple[list, int]:
    """Dr AP at the bill's carrying amount, Cr bank at today's spot, FX difference realized."""
    ap = required_account(entity, "ap_control_account")
    bank = required_account(entity, "bank_account")
    functional = entity.functional_currency
    carrying = _carrying(bill, bill.balance_due_minor) - _carrying(
        bill, bill.balance_due_minor - payment.amount_minor
    )
    rate = money.spot_rate(payment.currency_code, functional, on)
    paid = money.half_even(
        money.exact_functional(payment.amount_minor, payment.currency_code, functional, rate)
    )
    memo = f"Payment of bill {bill.number}"
    lines = [
        {
            "account_id": ap.id,
            "direction": DEBIT,
            "amount_minor": payment.amount_minor,
            "currency_code": payment.currency_code,
            "functional_amount_minor": carrying,
            "memo": memo,
        },
        {
            "account_id": bank.id,
            "direction": CREDIT,
            "amount_minor": payment.amount_minor,
            "currency_code": payment.currency_code,
            "functional_amount_minor": paid,
            "memo": memo,
        },
    ]
    fx = carrying - paid
    if fx:
        lines.append(
            {
                "account_id": required_account(entity, "fx_gain_loss_account").id,
                "direction": CREDIT if fx > 0 else DEBIT,
                "amount_minor": abs(fx),
                "currency_code": functional,
                "functional_amount_minor": abs(fx),
                "memo": f"Realized FX {'gain' if fx > 0 else 'loss'}: bill {bill.number}",
            }
        )
    return lines, carrying


def _payment_entry(
    actor: Actor, changes: Changes, entity: Entity, bill: Bill, payment: Payment
) -> tuple[JournalEntry, int]:
    """The GL entry that posts `payment` (validated, not yet written) and its AP carrying amount."""
    today = timezone.localdate()
    lines, carrying = _payment_lines(entity, bill, payment, today)
    entry = changes.journal(entity).add(
        actor,
        posting_date=today,
        memo=f"Payment of bill {bill.number}",
        lines=lines,
        source_type="PAYMENT",
        source_id=str(payment.id),
    )
    return entry, carrying


def _post(
    actor: Actor,
    changes: Changes,
    payment: Payment,
    bill: Bill,
    vendor: Vendor,
    posting: tuple[JournalEntry, int],
) -> None:
    """Post a SUBMITTED payment whose bill and vendor rows are locked."""
    entry, carrying = posting
    payment.post(at=timezone.now())
    payment.carrying_functional_minor = carrying
    payment.journal_entry = entry
    bill.balance_due_minor -= payment.amount_minor
    bill.in_flight_payment = None
    _settle_status(bill)
    changes.changed(bill, actor)
    _vendor_balance_change(
        actor, changes, vendor, -payment.amount_minor, {"type": "payment", "id": str(payment.id)}
    )
    audit.record(
        action="payables.payment_post",
        object_type="payment",
        object_id=str(payment.id),
        payload={
            "bill_id": bill.id,
            "amount_minor": payment.amount_minor,
            "carrying_functional_minor": carrying,
            "journal_entry_id": entry.id,
            "bill_balance_due_minor": bill.balance_due_minor,
        },
    )
    outbox.emit("payment.posted", events.payment_event(payment, bill))


def _lock_payment(payment_id: Any) -> tuple[Payment, Bill, Vendor]:
    """Lock a payment with its bill and vendor, in lock order (bill, payment, vendor)."""
    bill_id = (
        Payment.objects.filter(pk=as_uuid(payment_id)).values_list("bill_id", flat=True).first()
        if as_uuid(payment_id)
        else None
    )
    if bill_id is None:
        raise _not_found("payment", payment_id)
    bill = lock_one(Bill, bill_id)
    payment = lock_one(Payment, payment_id)
    vendor = lock_one(Vendor, bill.vendor_id)
    return payment, bill, vendor


def _refuse(payment: Payment, action: str, allowed: tuple[str, ...]) -> None:
    if payment.status not in allowed:
        raise PaymentInvalidTransition(
            f"Payment {payment.id} is {payment.status}; it cannot be {action}.",
            payment_status=payment.status,
            object_type="payment",
            object_id=str(payment.id),
        )


@command("payables.payment_post", entity_of=_payment_entity)
def payment_post(actor: Actor, *, payment_id: UUID) -> Payment:
    permissions.require(
        actor,
        "payables.pay_bill",
        "post payments",
        object_type="payment",
        object_id=str(payment_id),
    )
    payment, bill, vendor = _lock_payment(payment_id)
    _refuse(payment, "posted", (Payment.Status.SUBMITTED,))
    changes = Changes()
    entity = entities_with_accounts({bill.entity_id})[bill.entity_id]
    _post(
        actor, changes, payment, bill, vendor, _payment_entry(actor, changes, entity, bill, payment)
    )
    changes.changed(payment, actor)
    changes.save()
    return payment


def _reverse(actor: Actor, changes: Changes, payment: Payment, bill: Bill, vendor: Vendor) -> None:
    """Undo a posted payment: reversing GL entry, balance due and vendor balance restored."""
    original = JournalEntryLine.objects.filter(journal_entry_id=payment.journal_entry_id)
    entry = changes.journal(Entity.objects.get(pk=bill.entity_id)).add(
        actor,
        posting_date=timezone.localdate(),
        memo=f"Reversal of payment of bill {bill.number}",
        lines=[
            {
                "account_id": line.coa_account_id,
                "direction": CREDIT if line.direction == DEBIT else DEBIT,
                "amount_minor": line.amount_minor,
                "currency_code": line.currency_code,
                "functional_amount_minor": line.functional_amount_minor,
                "memo": f"Reversal: {line.memo}"[:500],
            }
            for line in original.order_by("line_no")
        ],
        source_type="PAYMENT_VOID",
        source_id=str(payment.id),
    )
    payment.reversal_journal_entry = entry
    bill.balance_due_minor += payment.amount_minor
    _settle_status(bill)
    _vendor_balance_change(
        actor,
        changes,
        vendor,
        payment.amount_minor,
        {"type": "payment_void", "id": str(payment.id)},
    )


@command("payables.payment_void", entity_of=_payment_entity)
def payment_void(actor: Actor, *, payment_id: UUID, reason_code: str, reason: str = "") -> Payment:
    """Void a payment: frees the bill's in-flight lock; a POSTED payment is reversed."""
    permissions.require(
        actor,
        "payables.pay_bill",
        "void payments",
        object_type="payment",
        object_id=str(payment_id),
    )
    payment, bill, vendor = _lock_payment(payment_id)
    _refuse(
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
    changes = Changes()
    was_posted = payment.status == Payment.Status.POSTED
    if was_posted:
        _reverse(actor, changes, payment, bill, vendor)
    if bill.in_flight_payment_id == payment.id:
        bill.in_flight_payment = None
    payment.void(at=timezone.now(), reason_code=reason_code, reason=reason)
    changes.changed(payment, actor)
    changes.changed(bill, actor)
    changes.save()
    audit.record(
        action="payables.payment_void",
        object_type="payment",
        object_id=str(payment.id),
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


# Sync and batch runs -----------------------------------------------------------------


@command("payables.payment_run_create", entity_of=_entity_kwarg)
def payment_run_create(
    actor: Actor,
    *,
    kind: str,
    items: list[dict[str, Any]],
    entity_id: UUID | None = None,
    external_id: str | None = None,
) -> PaymentRun:
    """Record a sync feed or a batch of bills to pay; its Celery task is sent on commit.

    A replayed `external_id` (which needs the run's entity) returns the original run,
    whose task was sent when it was created.
    """
    permissions.require(actor, "payables.pay_bill", "start payment runs")
    entity = _entity(entity_id) if entity_id is not None else None
    request = {"kind": kind, "items": items}
    if external_id:
        if entity is None:
            raise ValidationFailed(
                "A run sent with an idempotency key names its entity.", field="entity_id"
            )
        original = idempotency.recall(entity.id, "payment_run", external_id, request)
        if original is not None:
            return _replayed(PaymentRun, original)
    run = PaymentRun.objects.create(kind=kind, entity=entity, created_by=actor.user)
    if external_id:
        idempotency.remember(entity.id, "payment_run", external_id, request, run.id)
    PaymentRunItem.objects.bulk_create(
        PaymentRunItem(
            run=run,
            position=i,
            bill_id=str(item["bill_id"]),
            amount_minor=item.get("amount_minor"),
            currency_code=item.get("currency_code") or "",
            external_id=item.get("external_id") or f"batch:{run.id}:{item['bill_id']}",
        )
        for i, item in enumerate(items)
    )
    audit.record(
        action="payables.payment_run_create",
        object_type="payment_run",
        object_id=str(run.id),
        payload={"kind": kind, "items": items},
    )
    transaction.on_commit(functools.partial(_send_run, run.id, kind))
    return run


def _send_run(run_id: UUID, kind: str) -> None:
    from payables import tasks  # tasks.py imports this module

    tasks.payment_run_send(run_id, kind)


def _lease_end() -> CombinedExpression:
    return Now() + timedelta(seconds=settings.RIVANE_RUN_LEASE_SECONDS)


def payment_run_claim(run_id: UUID) -> PaymentRun | None:
    """Compare-and-set: a QUEUED run, or a RUNNING one whose lease has run out (its
    worker died), becomes this worker's under a fresh lease. None if it is not free."""
    token = uuid.uuid4()
    claimed = (
        PaymentRun.objects.filter(pk=run_id)
        .filter(
            Q(status=PaymentRun.Status.QUEUED)
            | Q(status=PaymentRun.Status.RUNNING, lease_until__lt=Now())
        )
        .update(
            status=PaymentRun.Status.RUNNING,
            started_at=Coalesce("started_at", Now()),
            lease_until=_lease_end(),
            lease_token=token,
            claims=F("claims") + 1,
        )
    )
    return PaymentRun.objects.select_related("created_by").get(pk=run_id) if claimed else None


def payment_run_lease_left(run_id: UUID) -> float | None:
    """Seconds until the lease another worker holds on a RUNNING run runs out, if it does."""
    left = (
        PaymentRun.objects.filter(
            pk=run_id, status=PaymentRun.Status.RUNNING, lease_until__gte=Now()
        )
        .annotate(left=F("lease_until") - Now())
        .values_list("left", flat=True)
        .first()
    )
    return None if left is None else left.total_seconds()


def _renew_lease(run: PaymentRun) -> bool:
    """Extend this worker's lease on the run; False when it is no longer this worker's."""
    return bool(
        PaymentRun.objects.filter(
            pk=run.pk, status=PaymentRun.Status.RUNNING, lease_token=run.lease_token
        ).update(lease_until=_lease_end())
    )


def payment_run_item_execute(run: PaymentRun, item: PaymentRunItem) -> PaymentRunItem | None:
    """Pay one item through the canonical command and record its outcome (never raised).

    A transient failure — a `RetryLater` error (503) or a lost database connection —
    leaves the item PENDING with that error and it is tried again after a jittered,
    doubling wait; past `RIVANE_RUN_ITEM_ATTEMPTS` attempts it is FAILED. Attempts
    are counted before they start, so the ones a dying worker began count too. The
    item's idempotency key (`external_id`) makes an attempt after one whose commit
    was lost a replay, never a second payment.

    None when the run is no longer this worker's (its lease passed to another).
    """
    max_attempts = settings.RIVANE_RUN_ITEM_ATTEMPTS
    while True:
        if not _renew_lease(run):
            return None
        if item.attempts >= max_attempts:
            return _record(
                item,
                PaymentRunItem.Outcome.FAILED,
                code=item.error_code or "attempts_exhausted",
                status=item.error_status or 503,
                detail=item.error_detail or f"Gave up after {item.attempts} attempts.",
            )
        if not _begin_attempt(item):
            return item
        outcome, payment, error = _pay(run, item)
        if outcome is not None:
            return _record(item, outcome, payment=payment, **error)
        if item.attempts >= max_attempts:
            return _record(item, PaymentRunItem.Outcome.FAILED, **error)
        _record(item, PaymentRunItem.Outcome.PENDING, **error)
        time.sleep(_retry_wait(item.attempts))


def _begin_attempt(item: PaymentRunItem) -> bool:
    """Count an attempt at a still PENDING item; False if it is settled already."""
    begun = PaymentRunItem.objects.filter(
        pk=item.pk, outcome=PaymentRunItem.Outcome.PENDING
    ).update(attempts=F("attempts") + 1)
    item.attempts += 1
    return bool(begun)


def _retry_wait(attempts: int) -> float:
    return settings.RIVANE_RUN_RETRY_BACKOFF_SECONDS * 2 ** (attempts - 1) * random.uniform(0.5, 1)


def _pay(
    run: PaymentRun, item: PaymentRunItem
) -> tuple[str | None, Payment | None, dict[str, Any]]:
    """(outcome, payment, error) of one attempt; outcome None when it may be retried."""
    actor = Actor(user=run.created_by, channel=run.kind)
    try:
        payment = payment_submit(
            actor,
            bill_id=item.bill_id,
            amount_minor=item.amount_minor,
            currency_code=item.currency_code or None,
            external_id=item.external_id,
            entity_id=run.entity_id,
            post=True,
        )
    except RetryLater as err:
        return None, None, {"code": err.code, "status": err.status, "detail": err.detail}
    except (OperationalError, InterfaceError) as exc:
        # The connection is gone: the next query opens a new one.
        connection.close()
        error = {"code": DatabaseUnavailable.code, "status": 503, "detail": str(exc)}
        return None, None, error
    except DomainError as err:
        error = {"code": err.code, "status": err.status, "detail": err.detail}
        return PaymentRunItem.Outcome.REJECTED, None, error
    except Exception as exc:  # one broken item must not stop the rest of the run
        logger.exception("payment run %s item %s failed", run.id, item.position)
        error = {"code": "internal_error", "status": 500, "detail": str(exc)}
        return PaymentRunItem.Outcome.FAILED, None, error
    if payment.replayed and not _own_earlier_attempt(run, item, payment):
        return PaymentRunItem.Outcome.REPLAYED, payment, {}
    return PaymentRunItem.Outcome.SUCCEEDED, payment, {}


def _own_earlier_attempt(run: PaymentRun, item: PaymentRunItem, payment: Payment) -> bool:
    """A replayed payment that this item's own earlier attempt made (its worker died
    before recording it) is the item's success, not a replay: made since the run
    started, and no other item of the run holds it."""
    return (
        item.attempts > 1
        and payment.created_at >= run.started_at
        and not run.items.filter(payment=payment).exclude(pk=item.pk).exists()
    )


def _record(
    item: PaymentRunItem,
    outcome: str,
    *,
    payment: Payment | None = None,
    code: str = "",
    status: int | None = None,
    detail: str = "",
) -> PaymentRunItem:
    """Write an attempt's outcome on the item, if it is still PENDING (compare-and-set)."""
    item.outcome, item.payment = outcome, payment
    item.error_code, item.error_status, item.error_detail = code, status, detail
    item.finished_at = None if outcome == PaymentRunItem.Outcome.PENDING else timezone.now()
    PaymentRunItem.objects.filter(pk=item.pk, outcome=PaymentRunItem.Outcome.PENDING).update(
        outcome=item.outcome,
        payment=item.payment,
        error_code=item.error_code,
        error_status=item.error_status,
        error_detail=item.error_detail,
        finished_at=item.finished_at,
    )
    return item


def payment_run_finish(run: PaymentRun) -> bool:
    """COMPLETED, if the run is still this worker's and no item is left PENDING."""
    pending = PaymentRunItem.objects.filter(
        run=OuterRef("pk"), outcome=PaymentRunItem.Outcome.PENDING
    )
    return bool(
        PaymentRun.objects.filter(
            ~Exists(pending),
            pk=run.pk,
            status=PaymentRun.Status.RUNNING,
            lease_token=run.lease_token,
        ).update(status=PaymentRun.Status.COMPLETED, finished_at=Now(), lease_until=None)
    )


def payment_runs_to_resend(limit: int = 100) -> list[tuple[UUID, str]]:
    """(id, kind) of the runs whose task must be sent again, marked as sent now.

    - QUEUED, its task sent `RIVANE_RUN_REQUEUE_AFTER_SECONDS` ago or more: the broker
      was down when it was created, or lost the task;
    - RUNNING with its lease run out (its worker died), not sent since — or sent
      that long ago, in case that send was lost too.

    Sweepers running at once take different runs (SKIP LOCKED).
    """
    waited = Now() - timedelta(seconds=settings.RIVANE_RUN_REQUEUE_AFTER_SECONDS)
    queued = Q(status=PaymentRun.Status.QUEUED, enqueued_at__lte=waited)
    abandoned = Q(status=PaymentRun.Status.RUNNING, lease_until__lt=Now()) & (
        Q(enqueued_at__lt=F("lease_until")) | Q(enqueued_at__lte=waited)
    )
    with transaction.atomic():
        due = list(
            PaymentRun.objects.select_for_update(skip_locked=True)
            .filter(queued | abandoned)
            .order_by("enqueued_at")
            .values_list("id", "kind")[:limit]
        )
        PaymentRun.objects.filter(pk__in=[pk for pk, _ in due]).update(enqueued_at=Now())
    return due
