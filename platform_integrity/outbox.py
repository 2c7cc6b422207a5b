"""Events leave the system only through the outbox, written inside the change's transaction."""

from typing import Any

from django.utils import timezone

from platform_integrity import bulk
from platform_integrity.models import OutboxEvent
from platform_integrity.unit_of_work import UnitOfWork, current


def emit(event_type: str, payload: dict[str, Any]) -> OutboxEvent:
    return emit_many(event_type, [payload])[0]


def emit_many(event_type: str, payloads: list[dict[str, Any]]) -> list[OutboxEvent]:
    """Queue events on the unit of work; `flush` writes them in its transaction."""
    uow = current()
    now = timezone.now()
    events = [
        OutboxEvent(event_type=event_type, entity_id=uow.entity_id, occurred_at=now, payload=p)
        for p in payloads
    ]
    uow.events.extend(events)
    return events


def flush(uow: UnitOfWork) -> None:
    """Write every queued event in one INSERT, inside the transaction of the change."""
    if uow.events:
        bulk.insert(uow.events, read_ids=False)
        uow.events = []
