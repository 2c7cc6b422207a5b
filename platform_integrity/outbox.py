"""Events leave the system only through the outbox, written inside the change's transaction."""

from typing import Any

from django.db import connection
from django.utils import timezone

from platform_integrity.models import OutboxEvent
from platform_integrity.unit_of_work import current


def emit(event_type: str, payload: dict[str, Any]) -> OutboxEvent:
    return emit_many(event_type, [payload])[0]


def emit_many(event_type: str, payloads: list[dict[str, Any]]) -> list[OutboxEvent]:
    uow = current()
    assert connection.in_atomic_block
    now = timezone.now()
    return OutboxEvent.objects.bulk_create(
        [
            OutboxEvent(
                event_type=event_type, entity_id=uow.entity_id, occurred_at=now, payload=payload
            )
            for payload in payloads
        ]
    )
