"""The payables rules, written once: what makes a bill payable, a payment allowed, a
bill's status; the commands refuse what breaks them and the screens show them."""

from decimal import Decimal

from ledger import money
from payables.errors import (
    BillCurrencyMismatch,
    BillInvalid,
    ChannelInvalid,
    CurrencyMismatch,
    DuplicatePaymentAttempt,
    Overpayment,
    PaymentAmountInvalid,
    PaymentInvalidTransition,
    VendorInvalid,
)
from payables.models import Bill, Payment, Vendor
from platform_integrity.context import Actor
from platform_integrity.errors import OptimisticLockConflict

PAY = "payables.pay_bill"
# Built once: an enum's `values` walks its members on every call.
PAYMENT_CHANNELS = frozenset(Payment.Channel.values)
# The door decides the channel: the screens record UI, an API caller may declare these.
API_CHANNELS = ("API", "SYNC", "BATCH")


def check_channel(actor: Actor) -> None:
    if actor.channel not in PAYMENT_CHANNELS:
        raise ChannelInvalid(f"Payments cannot be made through channel {actor.channel}.")


def check_declared_channel(channel: str) -> None:
    """What an API caller may say it is; UI is the screens' alone."""
    if channel not in API_CHANNELS:
        raise ChannelInvalid(
            f"API callers may declare {'/'.join(API_CHANNELS)}, not {channel}.", channel=channel
        )


def check_bill(vendor: Vendor, entity_id, number: str, currency_code, bill_date, due_date, lines):
    """A bill its vendor can be billed, every line positive, the total within a bigint."""
    if vendor.entity_id != entity_id:
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


def guard_payable(
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


def check_version(vendor: Vendor, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != vendor.version:
        raise OptimisticLockConflict(
            f"Vendor {vendor.name}'s balance is at version {vendor.version}, "
            f"not {expected_version}.",
            object_type="vendor",
            object_id=str(vendor.id),
            current_version=vendor.version,
            retry="Read GET /v1/vendors/{id} again and resend with its current version.",
        )


def refuse_unless(payment: Payment, action: str, allowed: tuple[str, ...]) -> None:
    if payment.status not in allowed:
        raise PaymentInvalidTransition(
            f"Payment {payment.id} is {payment.status}; it cannot be {action}.",
            payment_status=payment.status,
            object_type="payment",
            object_id=str(payment.id),
        )


def settle_status(bill: Bill) -> None:
    """The bill's status as its balance due now says."""
    if bill.balance_due_minor == 0:
        bill.mark_paid()
    elif bill.balance_due_minor < bill.total_minor:
        bill.mark_partially_paid()
    elif bill.status != Bill.Status.OPEN:
        bill.reopen()


def carrying(bill: Bill, balance_due_minor: int) -> int:
    """The AP carrying amount (functional) of `balance_due_minor` of this bill."""
    return money.half_even(
        Decimal(bill.functional_total_minor) * balance_due_minor / bill.total_minor
    )
