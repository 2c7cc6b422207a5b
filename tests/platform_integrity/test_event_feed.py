"""The event feed and its relay when Redis is down: feed positions are the database's,
the feed serves committed events without Redis, and the stream gets each event once."""

import random
import threading
import time
import uuid

import psycopg
import pytest
import redis
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from platform_integrity import outbox, tasks
from platform_integrity.db import database_url
from platform_integrity.models import OutboxEvent
from platform_integrity.relay import relay_pending
from tests.conftest import make_books, posted_entry
from tests.payables.conftest import api_client, make_bill
from tests.payables.conftest import make_books as books_with_a_vendor
from tests.redis_server import RedisServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def events_redis(tmp_path, settings):
    """A redis-server of the test's own for the event stream, to stop and start again."""
    server = RedisServer(tmp_path)
    server.start()
    settings.REDIS_URL = server.url()
    yield server
    server.stop()


def stream_entries() -> list[tuple[str, int]]:
    """(event id, position) of every entry of the stream, in stream order."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    return [
        (fields[b"event_id"].decode(), int(fields[b"position"]))
        for _, fields in client.xrange(settings.RIVANE_EVENT_STREAM)
    ]


def in_position_order(**filters) -> list[tuple[str, int]]:
    events = OutboxEvent.objects.filter(**filters).order_by("position")
    return [
        (str(event_id), position)
        for event_id, position in events.values_list("event_id", "position")
    ]


def read_feed(client, after: str = "0") -> tuple[list[dict], str]:
    """Every event past `after`, page by page, and the cursor to read on from."""
    events: list[dict] = []
    while True:
        page = client.get("/v1/events", {"after": after, "limit": 5}).json()
        if not page["events"]:
            return events, after
        events += page["events"]
        after = page["next_cursor"]


def test_payments_post_while_redis_is_down_and_each_event_reaches_the_stream_once(
    events_redis, caplog
):
    books = books_with_a_vendor()
    bills = [make_bill(books, 10_000 + i, number=f"E-{i}") for i in range(3)]
    client = api_client(books.users["integration"])
    assert relay_pending() > 0
    _, cursor = read_feed(client)

    events_redis.stop()
    for bill in bills:
        paid = client.post(
            "/v1/payments",
            {
                "bill_id": str(bill.id),
                "amount_minor": bill.total_minor,
                "currency_code": "USD",
                "post": True,
            },
            format="json",
        )
        assert paid.status_code == 201, paid.content

    # The feed does not wait for Redis: every committed event is there, positioned.
    during, _ = read_feed(client, cursor)
    unpublished = in_position_order(published_at=None)
    assert [(e["id"], e["position"]) for e in during] == unpublished
    assert [e["type"] for e in during].count("payment.posted") == len(bills)
    assert tasks.relay_outbox() == 0  # the relay stops cleanly, and says why
    assert "Redis unavailable" in caplog.text

    events_redis.start()
    assert relay_pending() == len(unpublished)
    assert relay_pending() == 0
    assert stream_entries() == in_position_order()  # every event, each once, in feed order


def test_an_event_sent_but_not_marked_published_is_not_sent_again(events_redis):
    books = make_books()
    posted_entry(books, 1_000)
    relay_pending()
    sent = stream_entries()
    # The relay's XADD went through, then its database transaction was lost.
    OutboxEvent.objects.update(published_at=None)
    posted_entry(books, 2_000)

    relay_pending()

    assert stream_entries()[: len(sent)] == sent
    assert stream_entries() == in_position_order()
    assert not OutboxEvent.objects.filter(published_at=None).exists()


def test_a_reader_never_skips_an_event_that_commits_after_later_ones(api):
    books = make_books()
    with psycopg.connect(database_url(settings.DATABASES["default"])) as slow:
        # A transaction that wrote its event first (the lower id) and commits last.
        late = uuid.uuid4()
        slow.execute(
            "INSERT INTO outbox_event (event_id, event_type, occurred_at, payload)"
            " VALUES (%s, 'test.late', now(), '{}')",
            [late],
        )
        posted_entry(books, 1_000)
        seen, cursor = read_feed(api["integration"])
        assert str(late) not in {e["id"] for e in seen}
        slow.commit()

    after, _ = read_feed(api["integration"], cursor)
    assert [e["id"] for e in after] == [str(late)]
    assert after[0]["position"] > int(cursor)
    assert (
        OutboxEvent.objects.get(event_id=late).id
        < OutboxEvent.objects.get(event_id=seen[-1]["id"]).id
    )


def test_positions_are_assigned_only_at_read_committed():
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        with pytest.raises(DatabaseError, match="READ COMMITTED"):
            outbox.assign_positions()


def test_readers_paging_while_writers_commit_out_of_order_miss_no_event(api):
    """Writers hold their event uncommitted for a random while; a reader pages all along."""
    url = database_url(settings.DATABASES["default"])
    written: list[str] = []

    def writer(seed: int) -> None:
        pause = random.Random(seed)
        with psycopg.connect(url) as conn:
            for _ in range(15):
                event_id = str(uuid.uuid4())
                conn.execute(
                    "INSERT INTO outbox_event (event_id, event_type, occurred_at, payload)"
                    " VALUES (%s, 'test.concurrent', now(), '{}')",
                    [event_id],
                )
                time.sleep(pause.uniform(0, 0.02))
                conn.commit()
                written.append(event_id)

    writers = [threading.Thread(target=writer, args=(seed,)) for seed in range(4)]
    for thread in writers:
        thread.start()
    seen: list[str] = []
    cursor = "0"
    while any(thread.is_alive() for thread in writers):
        page, cursor = read_feed(api["integration"], cursor)
        seen += [e["id"] for e in page]
    for thread in writers:
        thread.join(timeout=30)
    page, _ = read_feed(api["integration"], cursor)
    seen += [e["id"] for e in page]

    assert len(seen) == len(set(seen)) == len(written) == 60
    assert set(seen) == set(written)
