import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django_fsm import FSMField, transition

from platform_integrity.history import history

MAX_LINES_PER_ENTRY = 10_000


class Entity(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    functional_currency = models.CharField(max_length=3)
    approval_threshold_minor = models.BigIntegerField(default=0)
    # Payments above this amount (functional currency) need a second person before they
    # are disbursed; none means no payment needs one.
    payment_approval_threshold_minor = models.BigIntegerField(null=True, blank=True)
    ap_control_account = models.ForeignKey(
        "Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    bank_account = models.ForeignKey(
        "Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    fx_gain_loss_account = models.ForeignKey(
        "Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = history()

    class Meta:
        db_table = "entity"
        verbose_name_plural = "entities"
        permissions = [("manage_entity", "Can create and configure entities and accounts")]

    def __str__(self) -> str:
        return f"{self.name} ({self.functional_currency})"


class Account(models.Model):
    class Type(models.TextChoices):
        ASSET = "ASSET"
        LIABILITY = "LIABILITY"
        EQUITY = "EQUITY"
        REVENUE = "REVENUE"
        EXPENSE = "EXPENSE"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="accounts")
    code = models.CharField(max_length=32)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=9, choices=Type.choices)
    active = models.BooleanField(default=True)
    history = history()

    class Meta:
        db_table = "account"
        ordering = ["entity", "code"]
        constraints = [
            models.UniqueConstraint(fields=["entity", "code"], name="account_code_per_entity"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Period(models.Model):
    class Status(models.TextChoices):
        OPEN = "OPEN"
        CLOSED = "CLOSED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="periods")
    name = models.CharField(max_length=64)
    start_date = models.DateField()
    end_date = models.DateField()
    status = FSMField(default=Status.OPEN, choices=Status.choices, protected=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    history = history()

    class Meta:
        db_table = "period"
        ordering = ["entity", "start_date"]
        permissions = [("close_period", "Can close and reopen periods")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(start_date__lte=models.F("end_date")), name="period_dates_order"
            ),
            models.UniqueConstraint(fields=["entity", "name"], name="period_name_per_entity"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    def contains(self, day) -> bool:
        return self.start_date <= day <= self.end_date

    @transition(field=status, source=Status.OPEN, target=Status.CLOSED)
    def close(self, *, by) -> None:
        self.closed_by = by

    @transition(field=status, source=Status.CLOSED, target=Status.OPEN)
    def reopen(self, *, by) -> None:
        self.closed_by = None
        self.closed_at = None


class FxRate(models.Model):
    """1 unit of `base_currency` = `rate` units of `quote_currency`, from `as_of` on."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    base_currency = models.CharField(max_length=3)
    quote_currency = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=28, decimal_places=12)
    as_of = models.DateField()
    history = history()

    class Meta:
        db_table = "fx_rate"
        constraints = [
            models.UniqueConstraint(
                fields=["base_currency", "quote_currency", "as_of"], name="fx_rate_once_a_day"
            ),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="fx_rate_positive"),
        ]
        indexes = [models.Index(fields=["base_currency", "quote_currency", "-as_of"])]
        permissions = [("manage_fxrate", "Can record exchange rates")]

    def __str__(self) -> str:
        return f"{self.base_currency}/{self.quote_currency} {self.rate} @ {self.as_of}"


class JournalEntry(models.Model):
    class Status(models.TextChoices):
        DRAFT = "DRAFT"
        PENDING_APPROVAL = "PENDING_APPROVAL"
        POSTED = "POSTED"
        VOID = "VOID"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    # Looked up through the (entity, status, created_at) index: an index of its own would
    # only be one more to write with every entry.
    entity = models.ForeignKey(
        Entity, on_delete=models.PROTECT, related_name="journal_entries", db_index=False
    )
    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="journal_entries")
    status = FSMField(default=Status.DRAFT, choices=Status.choices, protected=True)
    posting_date = models.DateField()
    memo = models.TextField(blank=True)
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # MANUAL entries follow the approval rules; BILL / PAYMENT entries are
    # posted by payables inside the command that creates the document.
    source_type = models.CharField(max_length=16, default="MANUAL")
    source_id = models.CharField(max_length=64, blank=True)
    # Set when an entry posts: indexed, it would make that update write every index
    # (see Meta.indexes), so it is not.
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    auto_approved = models.BooleanField(default=False)
    # Segregation of duties: the approver differs from the preparer and from everyone
    # else who edited or submitted the entry (`contributor_ids`, user ids); the entry is
    # judged later by the threshold it was routed by, not by today's.
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    contributor_ids = models.JSONField(default=list, blank=True)
    routed_threshold_minor = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    reversal_of = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    total_debit_minor = models.BigIntegerField(default=0)
    functional_currency_code = models.CharField(max_length=3)
    line_count = models.PositiveIntegerField(default=0)
    rejection_reason_code = models.CharField(max_length=64, blank=True)
    rejection_reason = models.TextField(blank=True)
    void_reason = models.TextField(blank=True)
    history = history()

    # Set by the create command when an idempotency key replays an earlier one.
    replayed = False

    class Meta:
        db_table = "journal_entry"
        ordering = ["-created_at"]
        verbose_name_plural = "journal entries"
        permissions = [
            ("prepare_journalentry", "Can prepare and submit journal entries"),
            ("approve_journalentry", "Can approve or reject journal entries"),
            (
                "supervise_journalentry",
                "Can edit, submit and void journal entries other preparers prepared",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["entity", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="journal_entry_external_id_per_entity",
            ),
        ]
        # No index names a column that submitting, approving or posting changes: those
        # updates stay HOT (heap only, room kept by the table's fillfactor, ledger
        # migration 0010) and write no index page that other entities' units read.
        indexes = [models.Index(fields=["entity", "-created_at"])]

    def __str__(self) -> str:
        return f"JE {str(self.id)[:8]} {self.status}"

    @transition(field=status, source=Status.DRAFT, target=Status.PENDING_APPROVAL)
    def route_for_approval(self) -> None:
        pass

    @transition(
        field=status,
        source=[Status.DRAFT, Status.PENDING_APPROVAL],
        target=Status.POSTED,
        conditions=[lambda entry: entry.line_count > 0],
    )
    def post(self) -> None:
        pass

    @transition(field=status, source=Status.PENDING_APPROVAL, target=Status.DRAFT)
    def reject(self, *, reason_code: str, reason: str) -> None:
        self.rejection_reason_code = reason_code
        self.rejection_reason = reason

    @transition(field=status, source=[Status.DRAFT, Status.PENDING_APPROVAL], target=Status.VOID)
    def void(self, *, reason: str) -> None:
        self.void_reason = reason


class JournalEntryLine(models.Model):
    """One debit or credit. Immutable once its entry is posted (database trigger)."""

    class Direction(models.TextChoices):
        DEBIT = "DEBIT"
        CREDIT = "CREDIT"

    id = models.BigAutoField(primary_key=True)
    # Looked up through the unique (journal_entry, line_no) index.
    journal_entry = models.ForeignKey(
        JournalEntry, on_delete=models.PROTECT, related_name="lines", db_index=False
    )
    line_no = models.PositiveIntegerField()
    external_id = models.CharField(max_length=255, null=True, blank=True)
    coa_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="lines")
    amount_minor = models.BigIntegerField()
    currency_code = models.CharField(max_length=3)
    functional_amount_minor = models.BigIntegerField()
    functional_currency_code = models.CharField(max_length=3)
    direction = models.CharField(max_length=6, choices=Direction.choices)
    dimension_tags = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    memo = models.CharField(max_length=500, blank=True)

    class Meta:
        db_table = "journal_entry_line"
        ordering = ["journal_entry", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["journal_entry", "line_no"], name="line_no_per_entry"),
            models.CheckConstraint(condition=models.Q(amount_minor__gt=0), name="line_amount_gt0"),
            models.CheckConstraint(
                condition=models.Q(functional_amount_minor__gte=0), name="line_functional_gte0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.amount_minor} {self.currency_code}"

    @property
    def signed_functional_minor(self) -> int:
        sign = 1 if self.direction == self.Direction.DEBIT else -1
        return sign * self.functional_amount_minor


class AccountBalance(models.Model):
    """The running balance of one GL account, in functional currency, debit-positive.

    A running total (`platform_integrity.changeset`): moved only by `ledger.balances`,
    each posting one change with its own version.
    """

    running_total = "balance_minor"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="balance")
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="+")
    balance_minor = models.BigIntegerField(default=0)
    currency_code = models.CharField(max_length=3)
    version = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "account_balance"

    def __str__(self) -> str:
        return f"{self.account_id}: {self.balance_minor} {self.currency_code}"
