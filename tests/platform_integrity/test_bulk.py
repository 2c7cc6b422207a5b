"""Set-based writes: values survive the trip exactly, and updates touch only their rows."""

import datetime
import json
import uuid

import pytest
from django.db import connection

from platform_integrity import bulk
from platform_integrity.models import OutboxEvent

pytestmark = pytest.mark.django_db


def event(n: int) -> OutboxEvent:
    return OutboxEvent(
        event_type="test.bulk",
        entity_id=uuid.uuid4(),
        occurred_at=datetime.datetime(2026, 11, 22, 1, 2, 3, 456789 + n, tzinfo=datetime.UTC),
        payload={"quote": 'say "hi", {twice}', "n": n, "nested": {"list": [1, "two", None]}},
    )


def test_inserted_rows_read_back_exactly_with_their_ids():
    rows = bulk.insert([event(n) for n in range(3)])

    assert all(row.id is not None for row in rows)
    for row in rows:
        stored = OutboxEvent.objects.get(pk=row.id)
        assert stored.occurred_at == row.occurred_at  # microseconds kept
        assert stored.payload == row.payload
        assert (stored.event_id, stored.entity_id) == (row.event_id, row.entity_id)


def test_updates_write_only_the_named_fields_of_the_given_rows():
    rows = bulk.insert([event(n) for n in range(3)])
    published = datetime.datetime(2026, 11, 22, 9, 0, 0, 123456, tzinfo=datetime.UTC)
    for position, row in enumerate(rows[:2], start=1):
        row.position, row.published_at = position, published
        row.event_type = "not written"

    bulk.update(rows[:2], ["position", "published_at"])

    stored = {row.id: row for row in OutboxEvent.objects.filter(event_type="test.bulk")}
    assert [(stored[r.id].position, stored[r.id].published_at) for r in rows] == [
        (1, published),
        (2, published),
        (None, None),
    ]


def test_an_update_reaches_its_rows_through_the_primary_key():
    """Joined on the JSON recordset alone, the planner read the whole index: under
    SERIALIZABLE that conflicted with every other writer of the table."""
    rows = bulk.insert([event(n) for n in range(2)])
    sql, _ = bulk._update_statement(OutboxEvent, ("position",))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN " + sql,
            [json.dumps([{"id": rows[0].id, "position": 1}]), [row.id for row in rows]],
        )
        plan = "\n".join(line for (line,) in cursor.fetchall())
    assert "Index Cond: (id = ANY" in plan, plan
