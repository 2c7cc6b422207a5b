"""Reads for payables: the API, the screens and the tasks go through these."""

from datetime import date
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet

from payables.models import Bill, Payment, PaymentRun, PaymentRunItem, Vendor
from platform_integrity.errors import NotFound
from platform_integrity.ids import as_uuid
from platform_integrity.models import AuditEvent


def _get(queryset: QuerySet, pk: Any, label: str):
    obj = None
    if (key := as_uuid(pk)) is not None:
        try:
            obj = queryset.filter(pk=key).first()
        except ValidationError:
            obj = None
    if obj is None:
        raise NotFound(f"No {label} {pk}.", object_type=label, object_id=str(pk))
    return obj


def vendor_get(vendor_id: Any) -> Vendor:
    return _get(Vendor.objects.all(), vendor_id, "vendor")


def vendor_list(*, entity_id: UUID | None = None) -> QuerySet[Vendor]:
    vendors = Vendor.objects.all()
    if entity_id:
        vendors = vendors.filter(entity_id=entity_id)
    return vendors.order_by("name", "id")


def bill_get(bill_id: Any) -> Bill:
    return _get(
        Bill.objects.select_related("vendor", "entity").prefetch_related("lines", "payments"),
        bill_id,
        "bill",
    )


def bill_list(
    *,
    entity_id: UUID | None = None,
    vendor_id: UUID | None = None,
    status: str | None = None,
    due_before: date | None = None,
) -> QuerySet[Bill]:
    bills = Bill.objects.select_related("vendor")
    if entity_id:
        bills = bills.filter(entity_id=entity_id)
    if vendor_id:
        bills = bills.filter(vendor_id=vendor_id)
    if status:
        bills = bills.filter(status=status)
    if due_before:
        bills = bills.filter(due_date__lte=due_before)
    return bills.order_by("due_date", "number", "id")


def bill_rejected_attempts(bill: Bill) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(
        object_type="bill", object_id=str(bill.id), outcome=AuditEvent.Outcome.REJECTED
    ).order_by("-id")


def payment_get(payment_id: Any) -> Payment:
    return _get(Payment.objects.select_related("bill"), payment_id, "payment")


def payment_list(*, bill_id: UUID | None = None, status: str | None = None) -> QuerySet[Payment]:
    payments = Payment.objects.select_related("created_by")
    if bill_id:
        payments = payments.filter(bill_id=bill_id)
    if status:
        payments = payments.filter(status=status)
    return payments.order_by("-created_at", "id")


def payment_run_get(run_id: Any, *, kind: str | None = None) -> PaymentRun:
    runs = PaymentRun.objects.prefetch_related("items")
    if kind:
        runs = runs.filter(kind=kind)
    return _get(runs, run_id, "payment_run")


def payment_run_counts(run: PaymentRun) -> dict[str, int]:
    """How many items the run has, and how many ended in each outcome."""
    outcomes = {o.lower(): Count("id", filter=Q(outcome=o)) for o in PaymentRunItem.Outcome}
    return run.items.aggregate(total=Count("id"), **outcomes)
