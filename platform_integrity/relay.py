"""Relays committed outbox rows to a Redis stream, at least once, in commit order."""

import json

import redis
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from platform_integrity.models import OutboxEvent

BATCH_SIZE = 500
RELAY_LOCK_KEY = 7_302_118_001


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def relay_pending(batch_size: int = BATCH_SIZE) -> int:
    """Publish unpublished events; returns how many. One relay runs at a time.

    Rows are marked published (and given their feed position) only in the
    transaction that follows a successful XADD, so a Redis outage loses
    nothing: the rows stay pending and the next run sends them.
    """
    published = 0
    client = redis_client()
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [RELAY_LOCK_KEY])
                if not cursor.fetchone()[0]:
                    return published
            batch = list(OutboxEvent.objects.filter(published_at=None).order_by("id")[:batch_size])
            if not batch:
                return published
            pipe = client.pipeline(transaction=False)
            for event in batch:
                pipe.xadd(
                    settings.RIVANE_EVENT_STREAM,
                    {
                        "event_id": str(event.event_id),
                        "type": event.event_type,
                        "occurred_at": event.occurred_at.isoformat(),
                        "payload": json.dumps(event.payload, cls=DjangoJSONEncoder),
                    },
                )
            pipe.execute()
            now = timezone.now()
            with connection.cursor() as cursor:
                cursor.execute(
                    """
                    UPDATE outbox_event o SET position = n.position, published_at = %s
                      FROM (SELECT id, nextval('outbox_position_seq') AS position
                              FROM unnest(%s::bigint[]) WITH ORDINALITY AS t(id, ord)
                             ORDER BY ord) n
                     WHERE o.id = n.id
                    """,
                    [now, [e.id for e in batch]],
                )
            published += len(batch)
