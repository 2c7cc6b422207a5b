"""Payables invariants, run by `verify_integrity` and the tests."""

from collections import defaultdict
from decimal import Decimal

from django.db.models import Count, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from ledger import money
from ledger.models import AccountBalance
from payables.models import Bill, Payment, Vendor
from platform_integrity.integrity import invariant


def _posted_total(bill_ref: str = "pk"):
    return Coalesce(
        Subquery(
            Payment.objects.filter(bill_id=OuterRef(bill_ref), status=Payment.Status.POSTED)
            .values("bill_id")
            .annotate(total=Sum("amount_minor"))
            .values("total")
        ),
        Value(0),
    )


@invariant("payables.bill_balance_due")
def bill_balance_due() -> list[str]:
    """balance due = total - Σ POSTED payments, never negative."""
    drifted = (
        Bill.objects.annotate(posted=_posted_total())
        .filter(Q(balance_due_minor__lt=0) | ~Q(balance_due_minor=F("total_minor") - F("posted")))
        .values_list("id", "number", "total_minor", "balance_due_minor", "posted")
    )
    return [
        f"bill {bill_id} ({number}): balance due {due} but total {total} - posted {posted} "
        f"= {total - posted}"
        for bill_id, number, total, due, posted in drifted
    ]


@invariant("payables.bill_status")
def bill_status() -> list[str]:
    """PAID exactly when nothing is due; OPEN exactly when nothing was paid."""
    wrong = Bill.objects.filter(
        (Q(status=Bill.Status.PAID) & ~Q(balance_due_minor=0))
        | (~Q(status=Bill.Status.PAID) & Q(balance_due_minor=0))
        | (Q(status=Bill.Status.OPEN) & ~Q(balance_due_minor=F("total_minor")))
        | (Q(status=Bill.Status.PARTIALLY_PAID) & Q(balance_due_minor=F("total_minor")))
    ).values_list("id", "status", "balance_due_minor", "total_minor")
    return [
        f"bill {bill_id}: status {status} with balance due {due} of {total}"
        for bill_id, status, due, total in wrong
    ]


@invariant("payables.vendor_open_balance")
def vendor_open_balance() -> list[str]:
    """vendor open balance = Σ balance due of its OPEN / PARTIALLY_PAID bills."""
    open_due = Coalesce(
        Subquery(
            Bill.objects.filter(
                vendor_id=OuterRef("pk"),
                status__in=[Bill.Status.OPEN, Bill.Status.PARTIALLY_PAID],
            )
            .values("vendor_id")
            .annotate(total=Sum("balance_due_minor"))
            .values("total")
        ),
        Value(0),
    )
    drifted = (
        Vendor.objects.annotate(due=open_due)
        .exclude(open_balance_minor=F("due"))
        .values_list("id", "name", "open_balance_minor", "due")
    )
    return [
        f"vendor {vendor_id} ({name}): open balance {balance} but open bills owe {due}"
        for vendor_id, name, balance, due in drifted
    ]


@invariant("payables.one_in_flight_payment")
def one_in_flight_payment() -> list[str]:
    """At most one SUBMITTED payment per bill, and the bill's in-flight pointer names it."""
    problems = [
        f"bill {bill_id}: {n} payments in flight"
        for bill_id, n in Payment.objects.filter(status=Payment.Status.SUBMITTED)
        .values("bill_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("bill_id", "n")
    ]
    bad_pointer = Bill.objects.filter(in_flight_payment__isnull=False).exclude(
        in_flight_payment__status=Payment.Status.SUBMITTED,
        in_flight_payment__bill_id=F("id"),
    )
    problems += [
        f"bill {bill_id}: in-flight pointer {payment_id} is not a SUBMITTED payment of this bill"
        for bill_id, payment_id in bad_pointer.values_list("id", "in_flight_payment_id")
    ]
    orphaned = Payment.objects.filter(status=Payment.Status.SUBMITTED).exclude(
        bill__in_flight_payment_id=F("id")
    )
    problems += [
        f"payment {payment_id} is SUBMITTED but bill {bill_id} does not point at it"
        for payment_id, bill_id in orphaned.values_list("id", "bill_id")
    ]
    return problems


@invariant("payables.ap_control_equals_open_bills")
def ap_control_equals_open_bills() -> list[str]:
    """Each entity's AP control balance is its open bills' carrying amount (functional,
    credit-negative): what the bills still owe, at the rates they were entered at."""
    owed: dict = defaultdict(int)
    open_bills = Bill.objects.filter(balance_due_minor__gt=0).values_list(
        "entity_id", "functional_total_minor", "balance_due_minor", "total_minor"
    )
    for entity_id, functional_total, due, total in open_bills.iterator():
        owed[entity_id] += money.half_even(Decimal(functional_total) * due / total)
    balances = AccountBalance.objects.filter(
        account_id=F("entity__ap_control_account_id")
    ).values_list("entity_id", "balance_minor")
    problems = []
    for entity_id, balance in balances:
        expected = owed.pop(entity_id, 0)
        if balance != -expected:
            problems.append(
                f"entity {entity_id}: AP control balance {balance}, open bills owe {expected}"
            )
    problems += [
        f"entity {entity_id}: open bills owe {amount} but it has no AP control balance"
        for entity_id, amount in owed.items()
    ]
    return problems
