"""View-only admin for payables: vendors, bills and payments change only through their
commands; the one write here, voiding payments, is an action that calls the command."""

from django.contrib import admin

from payables.commands import payment_void
from payables.models import Bill, BillLine, Payment, PaymentRun, PaymentRunItem, Vendor
from platform_integrity.context import Actor
from platform_integrity.web.admin_bases import (
    ReadOnlyAdmin,
    ReadOnlyInline,
    ViewOnlyAdmin,
    confirmed,
)


@admin.register(Vendor)
class VendorAdmin(ViewOnlyAdmin):
    list_display = ["name", "entity", "currency_code", "open_balance_minor", "version"]
    list_filter = ["entity"]
    search_fields = ["name"]


class BillLineInline(ReadOnlyInline):
    model = BillLine
    fields = ["line_no", "coa_account", "amount_minor", "memo"]
    readonly_fields = fields


class PaymentInline(ReadOnlyInline):
    model = Payment
    fk_name = "bill"
    fields = ["id", "status", "channel", "amount_minor", "currency_code", "external_id"]
    readonly_fields = fields
    show_change_link = True


@admin.register(Bill)
class BillAdmin(ViewOnlyAdmin):
    list_display = ["number", "vendor", "status", "due_date", "total_minor", "balance_due_minor"]
    list_filter = ["status", "entity"]
    search_fields = ["number", "vendor__name"]
    inlines = [BillLineInline, PaymentInline]


@admin.register(Payment)
class PaymentAdmin(ViewOnlyAdmin):
    list_display = [
        "id",
        "bill",
        "status",
        "channel",
        "amount_minor",
        "currency_code",
        "created_at",
    ]
    list_filter = ["status", "channel"]
    search_fields = ["id", "external_id", "bill__number"]
    actions = ["void_payments"]

    def has_pay_permission(self, request) -> bool:
        return request.user.has_perm("payables.pay_bill")

    @admin.action(description="Void selected payments", permissions=["pay"])
    def void_payments(self, request, queryset):
        actor = Actor.from_request(request, "ADMIN")

        def void(payment: Payment, reason: str) -> str:
            payment_void(actor, payment_id=payment.pk, reason_code="admin_void", reason=reason)
            return f"Payment {payment.pk} voided."

        return confirmed(self, request, queryset, title="Void payments", run=void)


class PaymentRunItemInline(ReadOnlyInline):
    model = PaymentRunItem
    fields = [
        "position",
        "bill_id",
        "amount_minor",
        "external_id",
        "outcome",
        "payment",
        "error_code",
        "error_detail",
        "attempts",
    ]
    readonly_fields = fields


@admin.register(PaymentRun)
class PaymentRunAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "kind",
        "status",
        "created_by",
        "created_at",
        "lease_until",
        "claims",
        "finished_at",
    ]
    list_filter = ["kind", "status"]
    inlines = [PaymentRunItemInline]
