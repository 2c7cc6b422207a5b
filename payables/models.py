"""Vendors, bills and payments.

Every money and status field here is written only by `payables.commands`
(state through the django-fsm transitions below, amounts by the commands).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django_fsm import FSMField, FSMModelMixin, transition

from platform_integrity.history import history


class Vendor(models.Model):
    # A running total (`platform_integrity.changeset`): Σ balance due of its unpaid bills.
    running_total = "open_balance_minor"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    entity = models.ForeignKey("ledger.Entity", on_delete=models.PROTECT, related_name="vendors")
    name = models.CharField(max_length=200)
    currency_code = models.CharField(max_length=3)
    open_balance_minor = models.BigIntegerField(default=0)
    version = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    history = history()

    # Set by the create command when an idempotency key replays an earlier one.
    replayed = False

    class Meta:
        db_table = "vendor"
        ordering = ["name"]
        permissions = [("manage_vendor", "Can create vendors")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(open_balance_minor__gte=0), name="vendor_open_balance_gte0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency_code})"


class Bill(FSMModelMixin, models.Model):
    class Status(models.TextChoices):
        OPEN = "OPEN"
        PARTIALLY_PAID = "PARTIALLY_PAID"
        PAID = "PAID"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    entity = models.ForeignKey("ledger.Entity", on_delete=models.PROTECT, related_name="bills")
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="bills")
    number = models.CharField(max_length=64)
    currency_code = models.CharField(max_length=3)
    bill_date = models.DateField()
    due_date = models.DateField()
    total_minor = models.BigIntegerField()
    balance_due_minor = models.BigIntegerField()
    # What the bill is carried at in AP, in functional currency (converted at the
    # bill date); payments relieve AP at this rate and book the difference as FX.
    functional_total_minor = models.BigIntegerField()
    in_flight_payment = models.ForeignKey(
        "Payment", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = FSMField(default=Status.OPEN, choices=Status.choices, protected=True)
    journal_entry = models.ForeignKey(
        "ledger.JournalEntry", on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = history()

    # Set by the create command when an idempotency key replays an earlier one.
    replayed = False

    class Meta:
        db_table = "bill"
        ordering = ["due_date", "number"]
        permissions = [("enter_bill", "Can enter bills")]
        constraints = [
            models.UniqueConstraint(fields=["vendor", "number"], name="bill_number_per_vendor"),
            models.CheckConstraint(condition=models.Q(total_minor__gt=0), name="bill_total_gt0"),
            models.CheckConstraint(
                condition=models.Q(balance_due_minor__gte=0)
                & models.Q(balance_due_minor__lte=models.F("total_minor")),
                name="bill_balance_due_within_total",
            ),
        ]
        indexes = [models.Index(fields=["entity", "status", "due_date"])]

    def __str__(self) -> str:
        return f"Bill {self.number} ({self.status})"

    @transition(field=status, source=[Status.OPEN, Status.PARTIALLY_PAID], target=Status.PAID)
    def mark_paid(self) -> None:
        pass

    @transition(
        field=status,
        source=[Status.OPEN, Status.PARTIALLY_PAID, Status.PAID],
        target=Status.PARTIALLY_PAID,
    )
    def mark_partially_paid(self) -> None:
        pass

    @transition(field=status, source=[Status.PARTIALLY_PAID, Status.PAID], target=Status.OPEN)
    def reopen(self) -> None:
        pass


class BillLine(models.Model):
    id = models.BigAutoField(primary_key=True)
    bill = models.ForeignKey(Bill, on_delete=models.PROTECT, related_name="lines")
    line_no = models.PositiveIntegerField()
    coa_account = models.ForeignKey("ledger.Account", on_delete=models.PROTECT, related_name="+")
    amount_minor = models.BigIntegerField()
    memo = models.CharField(max_length=500, blank=True)

    class Meta:
        db_table = "bill_line"
        ordering = ["bill", "line_no"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_minor__gt=0), name="bill_line_amount_gt0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bill_id} #{self.line_no}"


class Payment(FSMModelMixin, models.Model):
    class Status(models.TextChoices):
        DRAFT = "DRAFT"
        SUBMITTED = "SUBMITTED"
        POSTED = "POSTED"
        VOID = "VOID"

    class Channel(models.TextChoices):
        UI = "UI"
        API = "API"
        SYNC = "SYNC"
        BATCH = "BATCH"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    entity = models.ForeignKey("ledger.Entity", on_delete=models.PROTECT, related_name="payments")
    # Looked up through the (bill, status) index.
    bill = models.ForeignKey(
        Bill, on_delete=models.PROTECT, related_name="payments", db_index=False
    )
    amount_minor = models.BigIntegerField()
    currency_code = models.CharField(max_length=3)
    channel = models.CharField(max_length=5, choices=Channel.choices)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    status = FSMField(default=Status.DRAFT, choices=Status.choices, protected=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason_code = models.CharField(max_length=64, blank=True)
    void_reason = models.TextField(blank=True)
    # The AP carrying amount this payment relieved (functional currency), kept so
    # a void reverses exactly what the posting did.
    carrying_functional_minor = models.BigIntegerField(null=True, blank=True)
    journal_entry = models.ForeignKey(
        "ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reversal_journal_entry = models.ForeignKey(
        "ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    history = history()

    # Set by payment_submit when an idempotency key replays an earlier payment.
    replayed = False

    class Meta:
        db_table = "payment"
        ordering = ["-created_at"]
        permissions = [("pay_bill", "Can pay bills")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_minor__gt=0), name="payment_amount_gt0"
            ),
            models.UniqueConstraint(
                fields=["entity", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="payment_external_id_per_entity",
            ),
            # The database backstop for "at most one payment in flight per bill".
            models.UniqueConstraint(
                fields=["bill"],
                condition=models.Q(status="SUBMITTED"),
                name="payment_one_in_flight_per_bill",
            ),
        ]
        indexes = [models.Index(fields=["bill", "status"])]

    def __str__(self) -> str:
        return f"Payment {str(self.id)[:8]} {self.status}"

    @transition(field=status, source=Status.DRAFT, target=Status.SUBMITTED)
    def submit(self, *, at) -> None:
        self.submitted_at = at

    @transition(field=status, source=Status.SUBMITTED, target=Status.POSTED)
    def post(self, *, at) -> None:
        self.posted_at = at

    @transition(
        field=status, source=[Status.DRAFT, Status.SUBMITTED, Status.POSTED], target=Status.VOID
    )
    def void(self, *, at, reason_code: str, reason: str) -> None:
        self.voided_at = at
        self.void_reason_code = reason_code
        self.void_reason = reason


class PaymentRun(models.Model):
    """A sync import or a batch payment run, worked by a Celery task item by item."""

    class Kind(models.TextChoices):
        SYNC = "SYNC"
        BATCH = "BATCH"

    class Status(models.TextChoices):
        QUEUED = "QUEUED"
        RUNNING = "RUNNING"
        COMPLETED = "COMPLETED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=5, choices=Kind.choices)
    entity = models.ForeignKey(
        "ledger.Entity", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When its task was last sent to the broker: the sweeper sends it again when the
    # run waits too long. Run times are the database's clock: workers' clocks may differ.
    enqueued_at = models.DateTimeField(db_default=Now())
    # The lease of the worker working it, renewed as it goes. Once it has run out the
    # worker is taken for dead, and another may claim the run (its PENDING items).
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True, editable=False)
    # How many times a worker has claimed it: more than once, it was resumed.
    claims = models.PositiveIntegerField(default=0)

    # Set by the create command when an idempotency key replays an earlier one.
    replayed = False

    class Meta:
        db_table = "payment_run"
        ordering = ["-created_at"]
        indexes = [
            # The sweeper's scan: finished runs, nearly all of them, are left out.
            models.Index(
                fields=["enqueued_at"],
                name="payment_run_unfinished",
                condition=~models.Q(status="COMPLETED"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} run {str(self.id)[:8]} {self.status}"


class PaymentRunItem(models.Model):
    class Outcome(models.TextChoices):
        PENDING = "PENDING"
        SUCCEEDED = "SUCCEEDED"
        REPLAYED = "REPLAYED"
        REJECTED = "REJECTED"
        FAILED = "FAILED"

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(PaymentRun, on_delete=models.PROTECT, related_name="items")
    position = models.PositiveIntegerField()
    bill_id = models.CharField(max_length=64)
    amount_minor = models.BigIntegerField(null=True, blank=True)
    currency_code = models.CharField(max_length=3, blank=True)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    outcome = models.CharField(max_length=9, choices=Outcome.choices, default=Outcome.PENDING)
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    error_code = models.CharField(max_length=64, blank=True)
    error_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_detail = models.TextField(blank=True)
    # Payment attempts begun: a transient failure (or a worker dying) uses one up.
    attempts = models.PositiveSmallIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "payment_run_item"
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="payment_run_item_position"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id} #{self.position} {self.outcome}"
