"""Read-mostly admin: money and status fields are read-only; voids go through the command."""

from django.contrib import admin, messages
from simple_history.admin import SimpleHistoryAdmin

from payables.commands import payment_void
from payables.models import Bill, BillLine, Payment, PaymentRun, PaymentRunItem, Vendor
from platform_integrity.context import Actor
from platform_integrity.errors import DomainError


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Vendor)
class VendorAdmin(SimpleHistoryAdmin):
    list_display = ["name", "entity", "currency_code", "open_balance_minor", "version"]
    list_filter = ["entity"]
    search_fields = ["name"]
    readonly_fields = ["entity", "currency_code", "open_balance_minor", "version", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False  # vendors are created through the command (API)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


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
class BillAdmin(SimpleHistoryAdmin):
    list_display = ["number", "vendor", "status", "due_date", "total_minor", "balance_due_minor"]
    list_filter = ["status", "entity"]
    search_fields = ["number", "vendor__name"]
    readonly_fields = [
        "entity",
        "vendor",
        "number",
        "currency_code",
        "bill_date",
        "due_date",
        "total_minor",
        "balance_due_minor",
        "functional_total_minor",
        "in_flight_payment",
        "status",
        "journal_entry",
        "created_by",
        "created_at",
    ]
    inlines = [BillLineInline, PaymentInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.action(description="Void selected payments")
def void_selected_payments(modeladmin, request, queryset) -> None:
    actor = Actor.from_request(request, "ADMIN")
    for payment_id in queryset.values_list("id", flat=True):
        try:
            payment_void(
                actor,
                payment_id=payment_id,
                reason_code="admin_void",
                reason=f"Voided from the admin by {request.user.get_username()}",
            )
        except DomainError as err:
            modeladmin.message_user(request, f"{payment_id}: {err.detail}", messages.ERROR)
        else:
            modeladmin.message_user(request, f"{payment_id} voided.", messages.SUCCESS)


@admin.register(Payment)
class PaymentAdmin(SimpleHistoryAdmin):
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
    actions = [void_selected_payments]
    readonly_fields = [f.name for f in Payment._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


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
    ]
    readonly_fields = fields


@admin.register(PaymentRun)
class PaymentRunAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "status", "created_by", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
    readonly_fields = [f.name for f in PaymentRun._meta.fields]
    inlines = [PaymentRunItemInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
