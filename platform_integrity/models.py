import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class ApiToken(models.Model):
    """A bearer token for the /v1/ API. Only its SHA-256 is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        db_table = "api_token"
        permissions = [("revoke_apitoken", "Can revoke API tokens")]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class AuditEvent(models.Model):
    """Append-only audit log, hash-chained per chain (an entity, or "global").

    The database refuses UPDATE and DELETE (trigger in migration 0002), and a
    fork of a chain is refused by the unique (chain, prev_hash) constraint.
    """

    class Outcome(models.TextChoices):
        ACCEPTED = "ACCEPTED"
        REJECTED = "REJECTED"

    id = models.BigAutoField(primary_key=True)
    chain = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    actor = models.CharField(max_length=150)
    channel = models.CharField(max_length=8)
    ip = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    reason_code = models.CharField(max_length=64, blank=True)
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        db_table = "audit_event"
        constraints = [
            models.UniqueConstraint(fields=["chain", "prev_hash"], name="audit_chain_no_fork"),
        ]
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            models.Index(fields=["chain", "-id"]),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id} {self.outcome}"


class AuditChainHead(models.Model):
    """The latest hash of each audit chain.

    Commands read and update this one row instead of searching `audit_event` for
    the chain's tail: an in-place (HOT) update of a row nobody else writes gives
    SERIALIZABLE transactions of other entities nothing to conflict with, where
    an index search of the shared audit table did. It also lets
    `verify_audit_chain` notice rows cut from the end of a chain.
    """

    chain = models.CharField(max_length=64, primary_key=True)
    head_hash = models.CharField(max_length=64)
    head_id = models.BigIntegerField()

    class Meta:
        db_table = "audit_chain_head"

    def __str__(self) -> str:
        return f"{self.chain} @ {self.head_id}"


class OutboxEvent(models.Model):
    """An event written in the same transaction as the change it describes.

    `position` is assigned in the database once the event has committed
    (`outbox.assign_positions`), so the feed is ordered by when events became
    visible, not by id; `published_at` is set when the relay has sent it to Redis.
    """

    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(default=uuid.uuid4, unique=True)
    event_type = models.CharField(max_length=64)
    entity_id = models.UUIDField(null=True, blank=True)
    occurred_at = models.DateTimeField()
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    position = models.BigIntegerField(null=True, blank=True, unique=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "outbox_event"
        indexes = [
            models.Index(
                fields=["id"], name="outbox_unpositioned", condition=models.Q(position=None)
            ),
            models.Index(
                fields=["position"],
                name="outbox_unpublished",
                condition=models.Q(published_at=None),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} #{self.id}"


class IdempotencyKey(models.Model):
    """A caller's key for one effect, scoped per entity and operation."""

    entity_id = models.UUIDField()
    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "idempotency_key"
        constraints = [
            models.UniqueConstraint(fields=["entity_id", "scope", "key"], name="idempotency_once"),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


class ContentionCounter(models.Model):
    """Conflict retries per row, shared by every process (hottest rows first)."""

    table_name = models.CharField(max_length=64)
    row_id = models.CharField(max_length=64)
    retries = models.BigIntegerField(default=0)
    exhausted = models.BigIntegerField(default=0)
    last_seen_at = models.DateTimeField()

    class Meta:
        db_table = "contention_counter"
        constraints = [
            models.UniqueConstraint(fields=["table_name", "row_id"], name="contention_row_once"),
        ]

    def __str__(self) -> str:
        return f"{self.table_name}:{self.row_id} ({self.retries})"


class QueuedCommand(models.Model):
    """A command call waiting for its entity's turn, so the holder can run it in its batch.

    Rows live for the length of one call (see `platform_integrity.batching`).
    The table is UNLOGGED: a queued call is not money, and a crash takes its
    caller's connection with it anyway; the outcome is written in the
    transaction of the change it describes.
    """

    # Chosen by the caller, which must know it to withdraw the call if its wait fails.
    id = models.BigIntegerField(primary_key=True)
    chain = models.CharField(max_length=64)
    command = models.CharField(max_length=64)
    # The caller's user, by id: no foreign key, so queueing locks no user row.
    user_id = models.BigIntegerField(null=True)
    channel = models.CharField(max_length=8)
    ip = models.GenericIPAddressField(null=True, blank=True)
    arguments = models.JSONField(encoder=DjangoJSONEncoder)
    enqueued_at = models.DateTimeField(auto_now_add=True)
    outcome = models.JSONField(null=True, encoder=DjangoJSONEncoder)

    class Meta:
        db_table = "queued_command"
        # A leader reads its chain's recent calls in this order (`rivane_queued_calls`).
        indexes = [models.Index(fields=["chain", "enqueued_at", "id"])]

    def __str__(self) -> str:
        return f"{self.command} #{self.id} ({self.chain})"
