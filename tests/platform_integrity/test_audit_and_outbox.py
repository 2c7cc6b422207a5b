import json

import pytest
import redis
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from platform_integrity.models import AuditEvent, OutboxEvent
from platform_integrity.relay import relay_pending
from tests.conftest import make_books, posted_entry


@pytest.mark.django_db
def test_database_refuses_update_and_delete_of_audit_rows():
    make_books()
    row = AuditEvent.objects.order_by("id").first()
    for statement in (
        "UPDATE audit_event SET actor = 'mallory' WHERE id = %s",
        "DELETE FROM audit_event WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [row.id])
    assert AuditEvent.objects.get(pk=row.pk).actor == row.actor


@pytest.mark.django_db
def test_audit_chain_links_and_detects_tampering(capsys):
    make_books()
    call_command("verify_audit_chain")
    assert "intact" in capsys.readouterr().out
    victim = AuditEvent.objects.order_by("id")[3]
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only")
        cursor.execute("UPDATE audit_event SET actor = 'mallory' WHERE id = %s", [victim.id])
        cursor.execute("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only")
    with pytest.raises(CommandError, match="audit chain broken"):
        call_command("verify_audit_chain")
    assert f"audit #{victim.id}" in capsys.readouterr().out


@pytest.mark.django_db
def test_a_fork_in_the_chain_is_refused_by_the_database():
    make_books()
    last = AuditEvent.objects.order_by("-id").first()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.create(
            chain=last.chain,
            occurred_at=last.occurred_at,
            actor="x",
            channel="API",
            action="forged",
            object_type="x",
            outcome="ACCEPTED",
            prev_hash=last.prev_hash,
            hash="0" * 64,
        )


@pytest.fixture
def stream(settings):
    settings.RIVANE_EVENT_STREAM = "rivane:test-events"
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(settings.RIVANE_EVENT_STREAM)
    yield client, settings.RIVANE_EVENT_STREAM
    client.delete(settings.RIVANE_EVENT_STREAM)


@pytest.mark.django_db(transaction=True)
def test_relay_publishes_committed_events_to_a_redis_stream_in_order(stream, api):
    client, name = stream
    books = make_books()
    posted_entry(books, 1_000)
    posted_entry(books, 2_000)
    pending = list(OutboxEvent.objects.order_by("id").values_list("event_id", flat=True))
    assert pending

    assert relay_pending() == len(pending)
    entries = client.xrange(name)
    assert [e[1][b"event_id"].decode() for e in entries] == [str(i) for i in pending]
    assert json.loads(entries[0][1][b"payload"])
    assert not OutboxEvent.objects.filter(published_at=None).exists()
    assert relay_pending() == 0

    first_page = api["integration"].get("/v1/events", {"limit": 3}).json()
    assert [e["id"] for e in first_page["events"]] == [str(i) for i in pending[:3]]
    rest = api["integration"].get("/v1/events", {"after": first_page["next_cursor"]}).json()
    assert [e["id"] for e in rest["events"]] == [str(i) for i in pending[3:]]


@pytest.mark.django_db(transaction=True)
def test_nothing_is_lost_while_redis_is_down(stream, settings):
    client, name = stream
    posted_entry(make_books(), 1_000)
    working_url = settings.REDIS_URL
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    with pytest.raises(redis.ConnectionError):
        relay_pending()
    unpublished = OutboxEvent.objects.filter(published_at=None).count()
    assert unpublished == OutboxEvent.objects.count()
    settings.REDIS_URL = working_url
    assert relay_pending() == unpublished
    assert client.xlen(name) == unpublished
