"""Admin for controllers. Every write goes through `ledger.commands`; money and status are
read-only, and the admin never saves a ledger model itself."""

from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect

from ledger import commands, money
from ledger.forms import explain
from ledger.models import (
    Account,
    AccountBalance,
    Entity,
    FxRate,
    JournalEntry,
    JournalEntryLine,
    Period,
)
from platform_integrity.context import Actor
from platform_integrity.errors import DomainError
from platform_integrity.web.admin_bases import (
    ReadOnlyAdmin,
    ReadOnlyHistoryAdmin,
    ReadOnlyInline,
    ViewOnlyAdmin,
    confirmed,
)


def admin_actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request, "ADMIN")


class CommandAdmin(ReadOnlyHistoryAdmin):
    """Add / change forms whose save calls a command instead of `Model.save()`."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Django wraps POSTs in an atomic block; a command must own its transaction.
        try:
            return self._changeform_view(request, object_id, form_url, extra_context)
        except DomainError as err:
            self.message_user(request, explain(err), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change) -> None:
        saved = self.save_through_command(admin_actor(request), obj, form, change)
        obj.pk = saved.pk

    def save_through_command(self, actor: Actor, obj, form, change: bool):
        raise NotImplementedError

    def save_related(self, request, form, formsets, change) -> None:
        pass  # nothing related is edited here

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# Entities ---------------------------------------------------------------------------


class EntityAdminForm(forms.ModelForm):
    approval_threshold = forms.DecimalField(
        min_value=0,
        max_digits=20,
        help_text="In the functional currency, e.g. 10000.00. Entries whose debits exceed it "
        "need an approver.",
    )

    class Meta:
        model = Entity
        fields = [
            "name",
            "functional_currency",
            "ap_control_account",
            "bank_account",
            "fx_gain_loss_account",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = self.instance
        if instance.pk and instance.functional_currency:
            self.initial["approval_threshold"] = Decimal(
                money.format_major(
                    instance.approval_threshold_minor, instance.functional_currency
                ).replace(",", "")
            )
        for role in ("ap_control_account", "bank_account", "fx_gain_loss_account"):
            if role in self.fields:
                self.fields[role].queryset = Account.objects.filter(
                    entity_id=instance.pk, active=True
                )

    def clean_functional_currency(self) -> str:
        code = self.cleaned_data["functional_currency"].upper()
        if not money.is_currency(code):
            raise forms.ValidationError(f"{code} is not an ISO 4217 currency code.")
        return code

    def threshold_minor(self, currency: str) -> int:
        minor = self.cleaned_data["approval_threshold"].scaleb(money.exponent(currency))
        if minor != minor.to_integral_value():
            raise forms.ValidationError("Too many decimal places for the currency.")
        return int(minor)

    def clean(self):
        data = super().clean()
        currency = data.get("functional_currency") or self.instance.functional_currency
        if data.get("approval_threshold") is not None and currency:
            try:
                data["approval_threshold_minor"] = self.threshold_minor(currency)
            except (forms.ValidationError, InvalidOperation):
                self.add_error(
                    "approval_threshold",
                    f"{currency} amounts have at most {money.exponent(currency)} decimals.",
                )
        return data


@admin.register(Entity)
class EntityAdmin(CommandAdmin):
    form = EntityAdminForm
    list_display = ["name", "functional_currency", "threshold", "created_at"]
    search_fields = ["name"]

    @admin.display(description="Approval threshold")
    def threshold(self, obj: Entity) -> str:
        amount = money.format_major(obj.approval_threshold_minor, obj.functional_currency)
        return f"{amount} {obj.functional_currency}"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "functional_currency", "approval_threshold"]
        return [
            "name",
            "functional_currency",
            "approval_threshold",
            "ap_control_account",
            "bank_account",
            "fx_gain_loss_account",
        ]

    def get_readonly_fields(self, request, obj=None):
        return ["name", "functional_currency"] if obj else []

    def save_through_command(self, actor, obj, form, change):
        data = form.cleaned_data
        if not change:
            return commands.entity_create(
                actor,
                name=data["name"],
                functional_currency=data["functional_currency"],
                approval_threshold_minor=data["approval_threshold_minor"],
            )
        changes = {}
        if "approval_threshold" in form.changed_data:
            changes["approval_threshold_minor"] = data["approval_threshold_minor"]
        for role in ("ap_control_account", "bank_account", "fx_gain_loss_account"):
            if role in form.changed_data and data.get(role) is not None:
                changes[f"{role}_id"] = data[role].id
        return commands.entity_update(actor, entity_id=obj.pk, **changes)

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("ledger.manage_entity")

    def has_add_permission(self, request) -> bool:
        return request.user.has_perm("ledger.manage_entity")


# Accounts ---------------------------------------------------------------------------


@admin.register(Account)
class AccountAdmin(CommandAdmin):
    list_display = ["code", "name", "entity", "type", "active", "balance"]
    list_filter = ["entity", "type", "active"]
    search_fields = ["code", "name"]
    list_select_related = ["entity", "balance"]

    @admin.display(description="Balance (debit +)")
    def balance(self, obj: Account) -> str:
        balance = getattr(obj, "balance", None)
        if balance is None:
            return "—"
        return money.format_money(balance.balance_minor, balance.currency_code)

    def get_fields(self, request, obj=None):
        return ["entity", "code", "name", "type"] + (["active"] if obj else [])

    def get_readonly_fields(self, request, obj=None):
        return ["entity", "code", "name", "type"] if obj else []

    def save_through_command(self, actor, obj, form, change):
        if not change:
            return commands.account_create(
                actor, entity_id=obj.entity_id, code=obj.code, name=obj.name, type=obj.type
            )
        if "active" in form.changed_data:
            return commands.account_set_active(actor, account_id=obj.pk, active=obj.active)
        return obj

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("ledger.manage_entity")

    def has_add_permission(self, request) -> bool:
        return request.user.has_perm("ledger.manage_entity")


# Periods ----------------------------------------------------------------------------


@admin.register(Period)
class PeriodAdmin(CommandAdmin):
    list_display = ["name", "entity", "start_date", "end_date", "status", "closed_at", "closed_by"]
    list_filter = ["entity", "status"]
    search_fields = ["name"]
    actions = ["close_periods", "reopen_periods"]
    fields = ["entity", "name", "start_date", "end_date"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["entity", "name", "start_date", "end_date", "status", "closed_at", "closed_by"]

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj) or self.fields

    def save_through_command(self, actor, obj, form, change):
        return commands.period_create(
            actor,
            entity_id=obj.entity_id,
            name=obj.name,
            start_date=obj.start_date,
            end_date=obj.end_date,
        )

    def has_add_permission(self, request) -> bool:
        return request.user.has_perm("ledger.close_period")

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # dates and status change only through the close / reopen actions

    def has_close_permission(self, request) -> bool:
        return request.user.has_perm("ledger.close_period")

    def _transition(self, request, queryset, command, title: str, done: str):
        actor = admin_actor(request)

        def run(period: Period, reason: str) -> str:
            command(actor, period_id=period.pk, reason=reason)
            return f"{period.name} ({period.entity.name}) {done}."

        periods = queryset.select_related("entity").order_by("start_date")
        return confirmed(self, request, periods, title=title, run=run)

    @admin.action(description="Close selected periods", permissions=["close"])
    def close_periods(self, request, queryset):
        return self._transition(request, queryset, commands.period_close, "Close periods", "closed")

    @admin.action(description="Reopen selected periods", permissions=["close"])
    def reopen_periods(self, request, queryset):
        return self._transition(
            request, queryset, commands.period_reopen, "Reopen periods", "reopened"
        )


# FX rates ---------------------------------------------------------------------------


@admin.register(FxRate)
class FxRateAdmin(CommandAdmin):
    list_display = ["base_currency", "quote_currency", "rate", "as_of"]
    list_filter = ["base_currency", "quote_currency"]
    date_hierarchy = "as_of"
    fields = ["base_currency", "quote_currency", "rate", "as_of"]

    def save_through_command(self, actor, obj, form, change):
        return commands.fx_rate_create(
            actor,
            base_currency=obj.base_currency.upper(),
            quote_currency=obj.quote_currency.upper(),
            rate=obj.rate,
            as_of=obj.as_of,
        )

    def has_add_permission(self, request) -> bool:
        return request.user.has_perm("ledger.manage_fxrate")

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a rate is a fact of its day; record a new one instead


# Journal entries (read-only) --------------------------------------------------------


class JournalEntryLineInline(ReadOnlyInline):
    model = JournalEntryLine
    fields = [
        "line_no",
        "coa_account",
        "direction",
        "amount_minor",
        "currency_code",
        "functional_amount_minor",
        "functional_currency_code",
        "memo",
    ]
    readonly_fields = fields

    def has_view_permission(self, request, obj=None) -> bool:
        # Lines are part of the entry: whoever may view the entry may view its lines.
        return request.user.has_perm("ledger.view_journalentry")


@admin.register(JournalEntry)
class JournalEntryAdmin(ViewOnlyAdmin):
    list_display = [
        "id",
        "entity",
        "posting_date",
        "status",
        "total_debit_minor",
        "functional_currency_code",
        "prepared_by",
        "approved_by",
        "created_at",
    ]
    list_filter = ["status", "entity", "source_type"]
    search_fields = ["id", "external_id", "memo"]
    date_hierarchy = "posting_date"
    list_select_related = ["entity", "prepared_by", "approved_by"]
    inlines = [JournalEntryLineInline]


@admin.register(AccountBalance)
class AccountBalanceAdmin(ReadOnlyAdmin):
    list_display = ["account", "entity", "balance", "version", "updated_at"]
    list_filter = ["entity"]
    search_fields = ["account__code", "account__name"]
    list_select_related = ["account", "entity"]

    @admin.display(description="Balance (debit +)", ordering="balance_minor")
    def balance(self, obj: AccountBalance) -> str:
        return money.format_money(obj.balance_minor, obj.currency_code)
