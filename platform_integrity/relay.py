"""Relays committed outbox rows to a Redis stream in feed order, each one once."""

import json

import redis
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models.functions import Now

from platform_integrity import outbox
from platform_integrity.models import OutboxEvent

BATCH_SIZE = 500
RELAY_LOCK_KEY = 7_302_118_001
# The relay holds a database transaction while it talks to Redis: an unreachable
# Redis must fail it quickly, not hang it.
REDIS_TIMEOUT_SECONDS = 5


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
    )


def relay_pending(batch_size: int = BATCH_SIZE) -> int:
    """Send positioned, unpublished events to the stream in position order; returns
    how many were marked published. One relay runs at a time.

    Events get their feed positions first (`outbox.assign_positions`), Redis or
    not. A row is marked published in the transaction that follows its XADD, so a
    Redis outage loses nothing: the rows stay unpublished and a later run sends
    them. Each stream entry carries its position, and a run sends only the events
    past the stream's last one: an XADD whose marking was lost is not sent twice.
    """
    outbox.assign_positions()
    published = 0
    client = redis_client()
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [RELAY_LOCK_KEY])
                if not cursor.fetchone()[0]:
                    return published
            batch = list(
                OutboxEvent.objects.filter(published_at=None, position__isnull=False).order_by(
                    "position"
                )[:batch_size]
            )
            if not batch:
                return published
            streamed = last_streamed_position(client)
            pipe = client.pipeline(transaction=False)
            for event in batch:
                if event.position > streamed:
                    pipe.xadd(
                        settings.RIVANE_EVENT_STREAM,
                        {
                            "event_id": str(event.event_id),
                            "position": event.position,
                            "type": event.event_type,
                            "occurred_at": event.occurred_at.isoformat(),
                            "payload": json.dumps(event.payload, cls=DjangoJSONEncoder),
                        },
                    )
            pipe.execute()
            OutboxEvent.objects.filter(pk__in=[e.pk for e in batch]).update(published_at=Now())
            published += len(batch)


def last_streamed_position(client: redis.Redis) -> int:
    """The position of the stream's last entry (0 for none, or one without a position)."""
    last = client.xrevrange(settings.RIVANE_EVENT_STREAM, count=1)
    return int(last[0][1].get(b"position", 0)) if last else 0
