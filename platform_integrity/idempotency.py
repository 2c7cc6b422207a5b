"""Idempotency keys: one effect per (entity, scope, key), checked in the effect's transaction."""

import hashlib
import json
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder

from platform_integrity.errors import IdempotencyKeyReused, ValidationFailed
from platform_integrity.models import IdempotencyKey
from platform_integrity.unit import current

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def fingerprint(request: dict[str, Any]) -> str:
    """A hash of every field that changes the request's outcome, and of who sent it: the
    same key from another caller is another request, never a replay of someone's effect."""
    caller = current().actor.user
    body = json.dumps(
        {"caller": caller.pk if caller is not None else None, "request": request},
        sort_keys=True,
        separators=(",", ":"),
        cls=DjangoJSONEncoder,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def recall(entity_id: UUID, scope: str, key: str, request: dict[str, Any]) -> str | None:
    """The object id of the earlier effect for this key, or None when the key is new.

    The same key with a different request, or from another caller, is refused rather
    than replayed, and the refusal does not name the earlier object.
    """
    row = (
        current().changes.added(IdempotencyKey, entity_id=entity_id, scope=scope, key=key)
        or IdempotencyKey.objects.filter(entity_id=entity_id, scope=scope, key=key).first()
    )
    if row is None:
        return None
    if row.fingerprint != fingerprint(request):
        raise IdempotencyKeyReused(
            f"Key {key!r} was already used for a different request.", idempotency_key=key
        )
    return row.object_id


def remember(
    entity_id: UUID, scope: str, key: str, request: dict[str, Any], object_id: Any
) -> None:
    key_row = IdempotencyKey(
        entity_id=entity_id,
        scope=scope,
        key=key,
        fingerprint=fingerprint(request),
        object_id=str(object_id),
    )
    current().changes.add(key_row, current().actor)


def request_key(headers: Mapping[str, str], external_id: str | None) -> str | None:
    """The caller's key: the `Idempotency-Key` header, or the body's `external_id`."""
    key = headers.get(HEADER)
    if key is None:
        return external_id or None
    if external_id not in (None, "", key):
        raise ValidationFailed(
            f"{HEADER} and external_id differ; send one key.",
            errors={"external_id": [f"Differs from the {HEADER} header."]},
        )
    if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters.",
            errors={HEADER: ["Not a usable key."]},
        )
    return key


def replay_headers(created: Any) -> dict[str, str]:
    """Tell a caller whose idempotency key replayed an earlier create."""
    return {"Idempotent-Replayed": "true"} if created.replayed else {}
