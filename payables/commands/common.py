"""What the payables commands share: how they find their entity and their rows."""

from typing import Any
from uuid import UUID

from ledger.models import Entity
from platform_integrity.errors import NotFound
from platform_integrity.ids import as_uuid
from platform_integrity.locks import lock_one


def entity_kwarg(*, entity_id: Any = None, **_: Any) -> UUID | None:
    return as_uuid(entity_id) if entity_id is not None else None


def not_found(label: str, pk: Any) -> NotFound:
    return NotFound(f"No {label} {pk}.", object_type=label, object_id=str(pk))


def get_entity(entity_id: Any) -> Entity:
    entity = Entity.objects.filter(pk=as_uuid(entity_id)).first() if as_uuid(entity_id) else None
    if entity is None:
        raise not_found("entity", entity_id)
    return entity


def lock(model: type, pk: Any, label: str):
    row = lock_one(model, pk) if as_uuid(pk) else None
    if row is None:
        raise not_found(label, pk)
    return row


def replayed(model: type, object_id: str):
    """The object an earlier request with the same idempotency key created."""
    original = model.objects.get(pk=object_id)
    original.replayed = True
    return original
