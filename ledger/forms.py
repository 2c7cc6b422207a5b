"""Forms of the ledger screens: they parse HTTP input into command arguments, nothing more.

Every rule about entries (balance, accounts, periods, rates) is decided by
`ledger.commands`; these forms only turn "1,250.00 USD" into 125000 minor units.
"""

from typing import Any
from uuid import uuid4

from django import forms

from ledger import money, rules
from ledger.errors import JournalEntryImbalanced, UnknownCurrency
from ledger.lines import LineInput
from ledger.models import MAX_LINES_PER_ENTRY, Entity, JournalEntry, JournalEntryLine, Period
from platform_integrity.errors import DomainError, IdempotencyKeyReused

Direction = JournalEntryLine.Direction


class JournalEntryForm(forms.Form):
    entity = forms.ModelChoiceField(queryset=Entity.objects.order_by("name"), empty_label=None)
    period = forms.ModelChoiceField(
        queryset=Period.objects.filter(status=Period.Status.OPEN).order_by("entity", "start_date"),
        empty_label=None,
    )
    posting_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    memo = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    # One key per rendered form: a double submit replays the same create.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    @staticmethod
    def new_key() -> str:
        return f"ui-{uuid4()}"

    def command_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "entity_id": data["entity"].id,
            "period_id": data["period"].id,
            "posting_date": data["posting_date"],
            "memo": data["memo"],
            "external_id": data["idempotency_key"],
        }


class JournalLineForm(forms.Form):
    account = forms.UUIDField(error_messages={"required": "Choose an account."})
    direction = forms.ChoiceField(choices=Direction.choices)
    # Major units as typed ("12,500.00"); parsed against the line's currency in clean().
    amount = forms.CharField(max_length=40, error_messages={"required": "Enter an amount."})
    currency = forms.CharField(max_length=3, min_length=3)
    memo = forms.CharField(required=False, max_length=500)

    def has_changed(self) -> bool:
        # A row without account and amount is a blank row the user left; skip it.
        return bool(self["account"].value() or self["amount"].value())

    def clean_currency(self) -> str:
        code = self.cleaned_data["currency"].upper()
        try:
            money.exponent(code)
        except UnknownCurrency:
            raise forms.ValidationError(f"{code} is not a currency code we know.") from None
        return code

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        amount, currency = data.get("amount"), data.get("currency")
        if amount is None or currency is None:
            return data
        try:
            data["amount_minor"] = money.parse_major(amount, currency)
        except money.AmountInvalid as err:
            self.add_error("amount", str(err))
        return data

    def line_input(self) -> LineInput:
        data = self.cleaned_data
        return LineInput(
            account_id=data["account"],
            direction=data["direction"],
            amount_minor=data["amount_minor"],
            currency_code=data["currency"],
            memo=data["memo"],
        )


class BaseJournalLineFormSet(forms.BaseFormSet):
    def filled_forms(self) -> list[JournalLineForm]:
        return [f for f in self.forms if f.has_changed()]

    def line_inputs(self) -> list[LineInput]:
        return [f.line_input() for f in self.filled_forms()]


JournalLineFormSet = forms.formset_factory(
    JournalLineForm,
    formset=BaseJournalLineFormSet,
    extra=0,
    max_num=MAX_LINES_PER_ENTRY,
    absolute_max=MAX_LINES_PER_ENTRY,
    validate_max=True,
)


def line_formset(data=None, *, initial=None) -> BaseJournalLineFormSet:
    # Every row may be blank; the command decides whether the lines make an entry.
    return JournalLineFormSet(
        data, prefix="lines", initial=initial, form_kwargs={"empty_permitted": True}
    )


def show_command_error(form: forms.Form, lines: BaseJournalLineFormSet, err: DomainError) -> None:
    """Put a command's refusal on the form, and on the lines it names."""
    form.add_error(None, explain(err))
    filled = lines.filled_forms()
    for index in err.extra.get("lines", []):
        if 0 <= index < len(filled):
            filled[index].add_error(None, err.title)


def explain(err: DomainError) -> str:
    """The command's own words, with amounts in major units where it gave minor ones."""
    if isinstance(err, JournalEntryImbalanced):
        currency = err.extra["currency_code"]
        debit, credit = err.extra["total_debit_minor"], err.extra["total_credit_minor"]
        return (
            f"The entry does not balance: debits total {money.format_major(debit, currency)} "
            f"{currency} and credits total {money.format_major(credit, currency)} {currency}, "
            f"a difference of {money.format_major(abs(debit - credit), currency)} {currency}. "
            "Nothing was saved."
        )
    if isinstance(err, IdempotencyKeyReused):
        return (
            "This form was already saved with different lines. "
            "Open a new entry form to enter another entry."
        )
    return err.detail


class RejectForm(forms.Form):
    reason_code = forms.ChoiceField(choices=rules.REJECT_REASONS)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        error_messages={"required": "Say why the entry is rejected."},
    )


class VoidForm(forms.Form):
    reason = forms.CharField(required=False, max_length=2000)


class JournalEntryFilterForm(forms.Form):
    entity = forms.ModelChoiceField(
        queryset=Entity.objects.order_by("name"), required=False, empty_label="All entities"
    )
    status = forms.ChoiceField(
        choices=[("", "All statuses"), *JournalEntry.Status.choices],
        required=False,
    )
    q = forms.CharField(required=False, label="Search")


class TrialBalanceForm(forms.Form):
    entity = forms.ModelChoiceField(queryset=Entity.objects.order_by("name"), empty_label=None)
    as_of = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
