"""Idempotency keys: one effect per (entity, scope, key), checked in the effect's transaction."""

import hashlib
import json
from typing import Any
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder

from platform_integrity.errors import IdempotencyKeyReused
from platform_integrity.models import IdempotencyKey
from platform_integrity.unit_of_work import current


def fingerprint(request: dict[str, Any]) -> str:
    body = json.dumps(request, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(body.encode()).hexdigest()


def recall(entity_id: UUID, scope: str, key: str, request: dict[str, Any]) -> str | None:
    """The object id of the earlier effect for this key, or None when the key is new.

    The same key with a different request is refused rather than replayed.
    """
    current()
    row = IdempotencyKey.objects.filter(entity_id=entity_id, scope=scope, key=key).first()
    if row is None:
        return None
    if row.fingerprint != fingerprint(request):
        raise IdempotencyKeyReused(
            f"Key {key!r} was already used for a different request.",
            idempotency_key=key,
            original_object_id=row.object_id,
        )
    return row.object_id


def remember(
    entity_id: UUID, scope: str, key: str, request: dict[str, Any], object_id: Any
) -> None:
    current()
    IdempotencyKey.objects.create(
        entity_id=entity_id,
        scope=scope,
        key=key,
        fingerprint=fingerprint(request),
        object_id=str(object_id),
    )
