"""Events leave the system only through the outbox, written inside the change's transaction."""

import uuid
from typing import Any

from django.utils import timezone

from platform_integrity import bulk
from platform_integrity.models import OutboxEvent
from platform_integrity.unit_of_work import UnitOfWork, current


def emit(event_type: str, payload: dict[str, Any]) -> None:
    emit_many(event_type, [payload])


def emit_many(event_type: str, payloads: list[dict[str, Any]]) -> None:
    """Queue events on the unit of work; `flush` writes them in its transaction.

    They are kept as plain column values: a batch queues hundreds of them.
    """
    uow = current()
    now = timezone.now()
    uow.events.extend(
        {
            "event_id": uuid.uuid4(),
            "event_type": event_type,
            "entity_id": uow.entity_id,
            "occurred_at": now,
            "payload": payload,
            "position": None,
            "published_at": None,
        }
        for payload in payloads
    )


def flush(uow: UnitOfWork) -> None:
    """Write every queued event in one INSERT, inside the transaction of the change."""
    if uow.events:
        bulk.insert_values(OutboxEvent, uow.events)
        uow.events = []
