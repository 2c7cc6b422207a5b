"""Output shapes of the payables API (SPEC §7a); ids are strings."""

from rest_framework import serializers

from payables.models import Bill, BillLine, Payment, PaymentRun, PaymentRunItem, Vendor
from payables.selectors import payment_run_counts


class VendorOutput(serializers.ModelSerializer):
    entity_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Vendor
        fields = [
            "id",
            "entity_id",
            "name",
            "currency_code",
            "open_balance_minor",
            "version",
            "created_at",
        ]


class PaymentOutput(serializers.ModelSerializer):
    entity_id = serializers.UUIDField(read_only=True)
    bill_id = serializers.UUIDField(read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    journal_entry_id = serializers.UUIDField(read_only=True)
    reversal_journal_entry_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Payment
        fields = [
            "id",
            "entity_id",
            "bill_id",
            "amount_minor",
            "currency_code",
            "channel",
            "external_id",
            "status",
            "created_by",
            "created_at",
            "submitted_at",
            "posted_at",
            "voided_at",
            "void_reason_code",
            "void_reason",
            "carrying_functional_minor",
            "journal_entry_id",
            "reversal_journal_entry_id",
        ]


class BillLineOutput(serializers.ModelSerializer):
    coa_account_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = BillLine
        fields = ["line_no", "coa_account_id", "amount_minor", "memo"]


class BillOutput(serializers.ModelSerializer):
    entity_id = serializers.UUIDField(read_only=True)
    vendor_id = serializers.UUIDField(read_only=True)
    in_flight_payment_id = serializers.UUIDField(read_only=True)
    journal_entry_id = serializers.UUIDField(read_only=True)
    lines = BillLineOutput(many=True, read_only=True)
    payments = PaymentOutput(many=True, read_only=True)

    class Meta:
        model = Bill
        fields = [
            "id",
            "entity_id",
            "vendor_id",
            "number",
            "status",
            "currency_code",
            "bill_date",
            "due_date",
            "total_minor",
            "balance_due_minor",
            "functional_total_minor",
            "in_flight_payment_id",
            "journal_entry_id",
            "created_at",
            "lines",
            "payments",
        ]


class BillSummaryOutput(BillOutput):
    class Meta(BillOutput.Meta):
        fields = [f for f in BillOutput.Meta.fields if f not in ("lines", "payments")]


class PaymentRunItemOutput(serializers.ModelSerializer):
    payment_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = PaymentRunItem
        fields = [
            "position",
            "bill_id",
            "amount_minor",
            "currency_code",
            "external_id",
            "outcome",
            "payment_id",
            "error_code",
            "error_status",
            "error_detail",
            "attempts",
            "finished_at",
        ]


class PaymentRunOutput(serializers.ModelSerializer):
    entity_id = serializers.UUIDField(read_only=True)
    counts = serializers.SerializerMethodField()
    items = PaymentRunItemOutput(many=True, read_only=True)

    class Meta:
        model = PaymentRun
        fields = [
            "id",
            "kind",
            "entity_id",
            "status",
            "created_at",
            "started_at",
            "finished_at",
            "lease_until",
            "claims",
            "counts",
            "items",
        ]

    def get_counts(self, run: PaymentRun) -> dict[str, int]:
        return payment_run_counts(run)
