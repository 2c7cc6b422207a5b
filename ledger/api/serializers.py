"""Input and output shapes of the ledger API (SPEC §7a). Translation only, no business rules."""

from typing import Any
from uuid import UUID

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from ledger.lines import LineInput
from ledger.models import (
    Account,
    Entity,
    FxRate,
    JournalEntry,
    JournalEntryLine,
    Period,
)
from ledger.money import MAX_MINOR

LINE_DIRECTIONS = {"DEBIT", "CREDIT"}
LINE_MEMO_MAX = 500
EXTERNAL_ID_MAX = 255
# Dimension tags are a flat object of a few short labels (department, project, ...).
TAGS_MAX = 20
TAG_KEY_MAX = 64
TAG_VALUE_MAX = 200


def text_problem(value: Any, max_length: int) -> str | None:
    """Why `value` is not text a line can store, or None."""
    if not isinstance(value, str):
        return "Must be text."
    if len(value) > max_length:
        return f"Must be at most {max_length} characters."
    if "\x00" in value:
        return "Must not contain NUL characters."
    return None


def tags_problem(tags: Any) -> str | None:
    """Why `tags` are not a flat object of short labels, or None."""
    if not isinstance(tags, dict):
        return "Must be an object."
    if len(tags) > TAGS_MAX:
        return f"At most {TAGS_MAX} tags."
    for key, value in tags.items():
        if problem := text_problem(key, TAG_KEY_MAX):
            return f"Tag name: {problem}"
        if isinstance(value, (dict, list)):
            return f"Tag {key}: must be text, a number or true/false."
        if isinstance(value, str) and (problem := text_problem(value, TAG_VALUE_MAX)):
            return f"Tag {key}: {problem}"
        if isinstance(value, int) and not -MAX_MINOR <= value <= MAX_MINOR:
            return f"Tag {key}: number out of range."
    return None


def parse_lines(raw: Any) -> list[LineInput]:
    """Journal lines, checked field by field without a serializer per line.

    Entries carry up to 10,000 lines; a nested DRF serializer would spend more
    time here than the whole posting. Errors come back keyed by line index,
    the way a nested serializer reports them.
    """
    if not isinstance(raw, list):
        raise serializers.ValidationError({"lines": ["Expected a list of lines."]})
    parsed: list[LineInput] = []
    errors: dict[str, dict[str, list[str]]] = {}
    for index, item in enumerate(raw):
        problems: dict[str, list[str]] = {}
        if not isinstance(item, dict):
            errors[str(index)] = {"non_field_errors": ["Expected an object."]}
            continue
        try:
            account_id = UUID(str(item.get("coa_account_id")))
        except ValueError:
            problems["coa_account_id"] = ["A valid account id is required."]
        amount = item.get("amount_minor")
        if not isinstance(amount, int) or isinstance(amount, bool):
            problems["amount_minor"] = ["An integer amount in minor units is required."]
        elif not -MAX_MINOR <= amount <= MAX_MINOR:
            problems["amount_minor"] = [f"Must be within ±{MAX_MINOR} minor units."]
        currency = item.get("currency_code")
        if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
            problems["currency_code"] = ["A three-letter ISO 4217 code is required."]
        direction = item.get("direction")
        if direction not in LINE_DIRECTIONS:
            problems["direction"] = ['Must be "DEBIT" or "CREDIT".']
        tags = item.get("dimension_tags") or {}
        if problem := tags_problem(tags):
            problems["dimension_tags"] = [problem]
        memo = item.get("memo") or ""
        if problem := text_problem(memo, LINE_MEMO_MAX):
            problems["memo"] = [problem]
        external_id = item.get("external_id")
        if external_id is not None and (problem := text_problem(external_id, EXTERNAL_ID_MAX)):
            problems["external_id"] = [problem]
        if problems:
            errors[str(index)] = problems
            continue
        parsed.append(
            LineInput(
                account_id=account_id,
                direction=direction,
                amount_minor=amount,
                currency_code=currency.upper(),
                dimension_tags=tags,
                memo=memo,
                external_id=external_id,
            )
        )
    if errors:
        raise serializers.ValidationError({"lines": errors})
    return parsed


class EntityOutput(serializers.ModelSerializer):
    id = serializers.CharField()
    ap_control_account_id = serializers.CharField(allow_null=True)
    bank_account_id = serializers.CharField(allow_null=True)
    fx_gain_loss_account_id = serializers.CharField(allow_null=True)

    class Meta:
        model = Entity
        fields = [
            "id",
            "name",
            "functional_currency",
            "approval_threshold_minor",
            "ap_control_account_id",
            "bank_account_id",
            "fx_gain_loss_account_id",
            "created_at",
        ]


class AccountOutput(serializers.ModelSerializer):
    id = serializers.CharField()
    entity_id = serializers.CharField()

    class Meta:
        model = Account
        fields = ["id", "entity_id", "code", "name", "type", "active"]


class PeriodOutput(serializers.ModelSerializer):
    id = serializers.CharField()
    entity_id = serializers.CharField()

    class Meta:
        model = Period
        fields = ["id", "entity_id", "name", "start_date", "end_date", "status", "closed_at"]


class FxRateOutput(serializers.ModelSerializer):
    id = serializers.CharField()
    rate = serializers.DecimalField(max_digits=28, decimal_places=12, coerce_to_string=True)

    class Meta:
        model = FxRate
        fields = ["id", "base_currency", "quote_currency", "rate", "as_of"]


class LineOutput(serializers.ModelSerializer):
    id = serializers.CharField()
    coa_account_id = serializers.CharField()

    class Meta:
        model = JournalEntryLine
        fields = [
            "id",
            "line_no",
            "external_id",
            "coa_account_id",
            "amount_minor",
            "currency_code",
            "functional_amount_minor",
            "functional_currency_code",
            "direction",
            "dimension_tags",
            "memo",
        ]


class JournalEntryOutput(serializers.ModelSerializer):
    id = serializers.CharField()
    entity_id = serializers.CharField()
    period_id = serializers.CharField()
    prepared_by = serializers.CharField(source="prepared_by.username")
    approved_by = serializers.CharField(source="approved_by.username", allow_null=True)
    reversal_of = serializers.CharField(source="reversal_of_id", allow_null=True)

    class Meta:
        model = JournalEntry
        fields = [
            "id",
            "external_id",
            "entity_id",
            "period_id",
            "status",
            "posting_date",
            "memo",
            "prepared_by",
            "approved_by",
            "auto_approved",
            "submitted_at",
            "approved_at",
            "posted_at",
            "voided_at",
            "reversal_of",
            "source_type",
            "total_debit_minor",
            "functional_currency_code",
            "line_count",
            "rejection_reason_code",
            "rejection_reason",
            "created_at",
        ]


def journal_entry_body(entry: JournalEntry, *, with_lines: bool = True) -> dict[str, Any]:
    body = dict(JournalEntryOutput(entry).data)
    if with_lines:
        lines = JournalEntryLine.objects.filter(journal_entry=entry).order_by("line_no")
        body["lines"] = LineOutput(lines, many=True).data
    return body


TRIAL_BALANCE_FIELDS = {
    "entity_id": serializers.CharField(),
    "as_of": serializers.DateField(),
    "currency_code": serializers.CharField(),
    "rows": inline_serializer(
        "TrialBalanceRow",
        {
            "account_id": serializers.CharField(),
            "code": serializers.CharField(),
            "name": serializers.CharField(),
            "type": serializers.CharField(),
            "debit_minor": serializers.IntegerField(),
            "credit_minor": serializers.IntegerField(),
        },
        many=True,
    ),
    "total_debit_minor": serializers.IntegerField(),
    "total_credit_minor": serializers.IntegerField(),
}

BALANCE_FIELDS = {
    "id": serializers.CharField(),
    "account_id": serializers.CharField(),
    "entity_id": serializers.CharField(),
    "balance_minor": serializers.IntegerField(),
    "currency_code": serializers.CharField(),
    "version": serializers.IntegerField(),
    "updated_at": serializers.DateTimeField(),
}
