"""Read-only admin for the integrity tables: the audit log, outbox, contention, tokens.

Nothing here can be added, changed or deleted; the database refuses it for the audit log too.
"""

from django.contrib import admin

from platform_integrity import tokens
from platform_integrity.context import Actor
from platform_integrity.models import (
    ApiToken,
    AuditEvent,
    ContentionCounter,
    IdempotencyKey,
    OutboxEvent,
)
from platform_integrity.web.admin_bases import ReadOnlyAdmin, confirmed


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "occurred_at",
        "actor",
        "channel",
        "ip",
        "action",
        "object_type",
        "object_id",
        "outcome",
        "reason_code",
    ]
    list_filter = ["outcome", "channel", "action"]
    search_fields = ["object_id"]
    date_hierarchy = "occurred_at"
    ordering = ["-id"]


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "event_type", "entity_id", "occurred_at", "position", "published_at"]
    list_filter = ["event_type"]
    ordering = ["-id"]


@admin.register(ContentionCounter)
class ContentionCounterAdmin(ReadOnlyAdmin):
    list_display = ["table_name", "row_id", "retries", "exhausted", "last_seen_at"]
    ordering = ["-retries"]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ["prefix", "user", "created_at", "expires_at", "revoked_at", "revoked_reason"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "user__username"]
    exclude = ["key_hash"]
    actions = ["revoke_tokens"]

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm(tokens.REVOKE)

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke_tokens(self, request, queryset):
        actor = Actor.from_request(request, "ADMIN")

        def revoke(token: ApiToken, reason: str) -> str:
            tokens.token_revoke(actor, token_id=token.pk, reason=reason)
            return f"{token.prefix}… revoked."

        return confirmed(self, request, queryset, title="Revoke API tokens", run=revoke)

    def get_readonly_fields(self, request, obj=None):
        return [f for f in super().get_readonly_fields(request, obj) if f != "key_hash"]


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    list_display = ["scope", "key", "entity_id", "object_id", "created_at"]
    search_fields = ["key", "object_id"]
