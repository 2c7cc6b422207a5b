"""Events leave the system only through the outbox, written inside the change's transaction."""

import uuid
from typing import Any

from django.db import connection
from django.utils import timezone

from platform_integrity import bulk
from platform_integrity.models import OutboxEvent
from platform_integrity.unit import UnitOfWork, current


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


def assign_positions() -> int:
    """Give committed events their feed positions; returns how many got one.

    Positions come from one sequence, in a step that runs alone and sees only
    committed rows (`rivane_outbox_position`, migration 0010), never at insert time:
    so they increase in the order events become visible. An event that commits
    late, with a lower id than events already in the feed, gets a position above
    all of theirs, and a reader paging with `after=` never skips it. The relay runs
    this, and so does the feed before it reads: it serves events while Redis is down.
    Call it outside a transaction, or its lock is held until that one ends.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT rivane_outbox_position()")
        return cursor.fetchone()[0]
