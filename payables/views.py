"""AP clerk screens. The Pay button calls the same command as every other door."""

import uuid
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from payables import selectors
from payables.commands import payment_submit
from payables.models import Bill, Vendor
from platform_integrity.context import Actor
from platform_integrity.errors import DomainError, NotFound


def _parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@login_required
@permission_required("payables.view_bill", raise_exception=True)
def bill_list(request: HttpRequest) -> HttpResponse:
    vendor_id = selectors.as_uuid(request.GET.get("vendor"))
    status = request.GET.get("status") if request.GET.get("status") in Bill.Status.values else None
    due_before = _parse_date(request.GET.get("due_before"))
    bills = selectors.bill_list(vendor_id=vendor_id, status=status, due_before=due_before)
    return render(
        request,
        "payables/bill_list.html",
        {
            "bills": bills[:500],
            "vendors": Vendor.objects.order_by("name"),
            "statuses": Bill.Status.values,
            "filters": {"vendor": vendor_id, "status": status, "due_before": due_before},
        },
    )


def _bill_or_404(bill_id) -> Bill:
    try:
        return selectors.bill_get(bill_id)
    except NotFound as err:
        raise Http404(err.detail) from err


def _detail(request: HttpRequest, bill: Bill, *, error: str = "", amount: str = "") -> HttpResponse:
    return render(
        request,
        "payables/bill_detail.html",
        {
            "bill": bill,
            "lines": bill.lines.select_related("coa_account"),
            "payments": bill.payments.select_related("created_by").order_by("created_at"),
            "history": bill.history.order_by("-history_date")[:50],
            "rejections": selectors.bill_rejected_attempts(bill)[:50],
            "error": error,
            "pay_amount": amount or bill.balance_due_minor,
            # One key per rendered form: a double click or a resubmission replays it.
            "idempotency_key": uuid.uuid4(),
        },
    )


@login_required
@permission_required("payables.view_bill", raise_exception=True)
@require_http_methods(["GET", "POST"])
def bill_detail(request: HttpRequest, bill_id) -> HttpResponse:
    bill = _bill_or_404(bill_id)
    if request.method == "GET":
        return _detail(request, bill)
    if not request.user.has_perm("payables.pay_bill"):
        return _detail(request, bill, error="Your role does not allow paying bills.")
    amount = request.POST.get("amount_minor", "").strip()
    key = request.POST.get("idempotency_key", "").strip()
    if not amount.isdigit() or selectors.as_uuid(key) is None:
        return _detail(request, bill, error="Enter the amount in minor units.", amount=amount)
    try:
        payment = payment_submit(
            Actor.from_request(request, "UI"),
            bill_id=bill.id,
            amount_minor=int(amount),
            currency_code=bill.currency_code,
            external_id=f"ui:{key}",
            post=True,
        )
    except DomainError as err:
        return _detail(request, selectors.bill_get(bill.id), error=err.detail)
    if payment.replayed:
        messages.info(request, "This form was already submitted; the bill was paid only once.")
    else:
        messages.success(request, f"Payment {payment.id} posted.")
    return redirect("payables:bill-detail", bill_id=bill.id)
