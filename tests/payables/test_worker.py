"""Sync and batch runs on a real Celery worker against real Redis and the test database."""

import time
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings

from payables import commands
from payables.models import Payment
from tests.payables.conftest import api_client, assert_invariants_hold, make_bill
from tests.payables.workers import celery_sending_to, start_worker, stop_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# A Redis database of its own, so this worker can't take anyone else's tasks (or they its).
WORKER_REDIS_DB = 13


def worker_broker_url() -> str:
    return urlunsplit(urlsplit(settings.REDIS_URL)._replace(path=f"/{WORKER_REDIS_DB}"))


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker):
    broker_url = worker_broker_url()
    redis.Redis.from_url(broker_url).flushdb()
    process = start_worker(broker_url)
    with celery_sending_to(broker_url):
        yield process
    stop_worker(process)


@pytest.fixture
def eager_celery():
    """Overrides the package-wide eager mode: these tests go through the real worker."""
    yield


def wait_for_run(client, path: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.get(path).json()
        if run["status"] == "COMPLETED":
            return run
        time.sleep(0.25)
    raise AssertionError(f"run did not finish in {timeout}s: {run}")


def test_sync_feed_on_a_real_worker(books, worker):
    paid, partial, racing = (make_bill(books, 30_000, number=f"S-{i}") for i in range(3))
    ui = commands.payment_submit(
        books.actor("clerk", "UI"), bill_id=racing.id, amount_minor=30_000, currency_code="USD"
    )
    client = api_client(books.users["integration"])

    def item(bill_id, amount, external_id):
        return {
            "bill_id": str(bill_id),
            "amount_minor": amount,
            "currency_code": "USD",
            "external_id": external_id,
        }

    feed = [
        item(paid.id, 30_000, "feed-1"),
        item(paid.id, 30_000, "feed-1"),  # the same payment twice in one feed
        item(partial.id, 10_000, "feed-2"),
        item(racing.id, 30_000, "feed-3"),  # the UI payment is in flight
        item("not-a-bill", 1_000, "feed-4"),
        item(partial.id, 99_000, "feed-5"),  # more than is due
    ]
    created = client.post(
        "/v1/payment-sync-runs", {"entity_id": str(books.entity.id), "items": feed}, format="json"
    )
    assert created.status_code == 202, created.content
    run = wait_for_run(client, f"/v1/payment-sync-runs/{created.json()['id']}")

    outcomes = [(i["outcome"], i["error_code"] or None) for i in run["items"]]
    assert outcomes == [
        ("SUCCEEDED", None),
        ("REPLAYED", None),
        ("SUCCEEDED", None),
        ("REJECTED", "bill_already_paid_or_in_flight"),
        ("REJECTED", "not_found"),
        ("REJECTED", "payment.overpayment"),
    ]
    assert run["items"][0]["payment_id"] == run["items"][1]["payment_id"]
    assert run["counts"] == {
        "total": 6,
        "pending": 0,
        "succeeded": 2,
        "replayed": 1,
        "rejected": 3,
        "failed": 0,
    }
    synced = Payment.objects.filter(channel="SYNC")
    assert sorted(synced.values_list("status", "amount_minor")) == [
        ("POSTED", 10_000),
        ("POSTED", 30_000),
    ]
    assert Payment.objects.get(pk=ui.pk).status == "SUBMITTED"
    assert_invariants_hold()


def test_batch_run_on_a_real_worker(books, worker):
    first, second = make_bill(books, 4_000, number="BT-1"), make_bill(books, 6_000, number="BT-2")
    settled = make_bill(books, 1_000, number="BT-3")
    commands.payment_submit(
        books.actor("clerk", "UI"),
        bill_id=settled.id,
        amount_minor=1_000,
        currency_code="USD",
        post=True,
    )
    client = api_client(books.users["integration"])
    bill_ids = [str(b.id) for b in (first, second, settled, first)]
    created = client.post("/v1/payment-batch-runs", {"bill_ids": bill_ids}, format="json")
    assert created.status_code == 202, created.content
    run = wait_for_run(client, f"/v1/payment-batch-runs/{created.json()['id']}")

    assert [(i["outcome"], i["error_code"] or None) for i in run["items"]] == [
        ("SUCCEEDED", None),
        ("SUCCEEDED", None),
        ("REJECTED", "bill_already_paid_or_in_flight"),
        ("REPLAYED", None),
    ]
    batch = Payment.objects.filter(channel="BATCH")
    assert sorted(batch.values_list("amount_minor", "status")) == [
        (4_000, "POSTED"),
        (6_000, "POSTED"),
    ]
    assert_invariants_hold()
