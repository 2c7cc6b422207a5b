"""Payment runs through faults: a worker killed mid-run, a broker down when a run is
created, payments that fail transiently. Real workers, each test's own redis-server,
real PostgreSQL; every wait is bounded."""

import logging
import os
import signal
import threading

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from payables import commands, runs, tasks
from payables.models import Payment, PaymentRun, PaymentRunItem
from platform_integrity.db import database_url
from tests.payables.conftest import api_client, assert_invariants_hold, make_bill
from tests.payables.workers import (
    celery_sending_to,
    child_pids,
    start_worker,
    stop_worker,
    wait_for,
)
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Short leases and waits: a death is noticed, and a retry comes, within the test.
FAST_RUNS = {
    "RIVANE_RUN_LEASE_SECONDS": "1.5",
    "RIVANE_RUN_SWEEP_SECONDS": "0.3",
    "RIVANE_RUN_REQUEUE_AFTER_SECONDS": "1",
    "RIVANE_RUN_RETRY_BACKOFF_SECONDS": "0.5",
}
# Enough payments that a worker is still paying when the test kills it (a few seconds).
LONG_RUN = 40


@pytest.fixture
def eager_celery():
    """Overrides the package-wide eager mode: these tests go through real workers."""
    yield


@pytest.fixture
def broker(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def workers():
    """Start workers with fast run settings; each is stopped after the test."""
    started = []

    def start(broker_url: str, **options):
        process = start_worker(broker_url, **{**FAST_RUNS, **options})
        started.append(process)
        return process

    yield start
    for process in started:
        stop_worker(process)


@pytest.fixture(scope="module")
def retrying_worker(django_db_setup, tmp_path_factory):
    """One worker for the transient-failure tests: a unit of work that hits a conflict
    gives up at once (503 `concurrency_retry_exhausted`), so the run's retry shows."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    process = start_worker(server.url(), **FAST_RUNS, RIVANE_MAX_CONFLICT_RETRIES="0")
    with celery_sending_to(server.url()):
        yield process
    stop_worker(process)
    server.stop()


def start_batch(books, bills) -> str:
    created = api_client(books.users["integration"]).post(
        "/v1/payment-batch-runs",
        {"entity_id": str(books.entity.id), "bill_ids": [str(b.id) for b in bills]},
        format="json",
    )
    assert created.status_code == 202, created.content
    return created.json()["id"]


def settled(run_id: str) -> int:
    return PaymentRunItem.objects.filter(run_id=run_id).exclude(outcome="PENDING").count()


def wait_for_completion(books, run_id: str, timeout: float = 60) -> dict:
    client = api_client(books.users["integration"])

    def completed():
        run = client.get(f"/v1/payment-batch-runs/{run_id}").json()
        return run if run["status"] == "COMPLETED" else None

    return wait_for(completed, timeout, f"run {run_id} to complete")


def assert_each_bill_paid_once(bills, run: dict) -> None:
    paid = Payment.objects.filter(bill__in=bills)
    assert sorted(paid.values_list("bill_id", "status")) == sorted((b.id, "POSTED") for b in bills)
    assert all(p.amount_minor == p.bill.total_minor for p in paid.select_related("bill"))
    assert run["counts"] == {
        "total": len(bills),
        "pending": 0,
        "succeeded": len(bills),
        "replayed": 0,
        "rejected": 0,
        "failed": 0,
    }
    assert_invariants_hold()


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def test_run_whose_worker_is_killed_is_resumed_by_the_sweeper(books, broker, workers, tmp_path):
    first = workers(broker.url())
    bills = [make_bill(books, 1_000 + i, number=f"K-{i}") for i in range(LONG_RUN)]
    with celery_sending_to(broker.url()):
        run_id = start_batch(books, bills)
        wait_for(lambda: settled(run_id) >= 3, 30, "the first payments")
        kill(first.pid)
        first.wait(timeout=10)
        assert PaymentRun.objects.get(pk=run_id).status == "RUNNING"
        assert settled(run_id) < LONG_RUN

        # Its task died unacknowledged with the worker: the sweeper, on beat, sends the
        # run again once the dead worker's lease has run out.
        workers(broker.url(), beat_schedule=tmp_path / "beat-schedule")
        run = wait_for_completion(books, run_id)

    assert run["claims"] == 2
    assert_each_bill_paid_once(bills, run)


def test_task_of_a_killed_pool_process_is_redelivered_and_resumes_the_run(books, broker, workers):
    worker = workers(broker.url(), pool="prefork")
    bills = [make_bill(books, 1_000 + i, number=f"P-{i}") for i in range(LONG_RUN)]
    with celery_sending_to(broker.url()):
        run_id = start_batch(books, bills)
        wait_for(lambda: settled(run_id) >= 3, 30, "the first payments")
        [pool_process] = child_pids(worker.pid)
        kill(pool_process)

        # No beat here: the worker requeues the lost task (`reject_on_worker_lost`), and
        # its redelivery waits for the dead process's lease, then claims the run.
        run = wait_for_completion(books, run_id)

    assert run["claims"] == 2
    assert_each_bill_paid_once(bills, run)


def test_run_created_while_the_broker_is_down_waits_queued_then_completes(
    books, broker, workers, settings, caplog
):
    bills = [make_bill(books, 2_000 + i, number=f"D-{i}") for i in range(3)]
    broker.stop()
    with celery_sending_to(broker.url()), caplog.at_level(logging.ERROR, "payables.tasks"):
        run_id = start_batch(books, bills)
    assert PaymentRun.objects.get(pk=run_id).status == "QUEUED"
    assert f"payment run {run_id}: its task could not be sent" in caplog.text

    broker.start()
    workers(broker.url())
    settings.RIVANE_RUN_REQUEUE_AFTER_SECONDS = 0
    with celery_sending_to(broker.url()):
        assert tasks.sweep_payment_runs() == 1
        run = wait_for_completion(books, run_id)

    assert run["claims"] == 1
    assert_each_bill_paid_once(bills, run)


# Another writer's change to a bill (it changes nothing): a payment that took its
# snapshot before this commits fails to serialize (40001).
TOUCH_BILL = "UPDATE bill SET number = number WHERE id = %s"


def holding_connection() -> psycopg.Connection:
    """A connection of the test's own, to hold a bill's row the way another writer would."""
    return psycopg.connect(database_url(settings.DATABASES["default"]))


def backends_waiting_for(holder: psycopg.Connection) -> list[int]:
    """The backends waiting for a lock `holder` holds."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
            [holder.info.backend_pid],
        )
        return [pid for (pid,) in cursor.fetchall()]


def item_state(run_id: str) -> tuple:
    item = PaymentRunItem.objects.get(run_id=run_id)
    return item.outcome, item.error_code, item.error_status, item.attempts


def test_item_hit_by_a_503_is_retried_and_succeeds(books, retrying_worker):
    bill = make_bill(books, 5_000, number="R-1")
    with holding_connection() as other_writer:
        other_writer.execute(TOUCH_BILL, [bill.id])
        run_id = start_batch(books, [bill])
        wait_for(
            lambda: backends_waiting_for(other_writer), 30, "the payment to wait for the bill's row"
        )
        # The payment's snapshot is older than this change: a serialization failure,
        # which its unit of work may not retry here, so it ends in a 503.
        other_writer.commit()

    wait_for(
        lambda: item_state(run_id) == ("PENDING", "concurrency_retry_exhausted", 503, 1),
        30,
        "the item to wait, PENDING, for its retry",
    )
    run = wait_for_completion(books, run_id)
    assert item_state(run_id) == ("SUCCEEDED", "", None, 2)
    assert_each_bill_paid_once([bill], run)


def test_item_whose_database_connection_breaks_is_retried_and_succeeds(books, retrying_worker):
    bill = make_bill(books, 6_000, number="C-1")
    with holding_connection() as other_writer:
        other_writer.execute("SELECT 1 FROM bill WHERE id = %s FOR UPDATE", [bill.id])
        run_id = start_batch(books, [bill])
        [payer] = wait_for(
            lambda: backends_waiting_for(other_writer), 30, "the payment to wait for the bill"
        )
        other_writer.execute("SELECT pg_terminate_backend(%s)", [payer])
        wait_for(
            lambda: item_state(run_id) == ("PENDING", "database_unavailable", 503, 1),
            30,
            "the item to wait, PENDING, for its retry",
        )
        other_writer.rollback()

    run = wait_for_completion(books, run_id)
    assert item_state(run_id) == ("SUCCEEDED", "", None, 2)
    assert_each_bill_paid_once([bill], run)


def test_item_failing_transiently_past_its_attempts_is_failed(books, settings, monkeypatch):
    settings.RIVANE_MAX_CONFLICT_RETRIES = 0
    settings.RIVANE_RUN_ITEM_ATTEMPTS = 2
    settings.RIVANE_RUN_RETRY_BACKOFF_SECONDS = 1
    monkeypatch.setattr(runs, "payment_run_send", lambda run_id, kind: None)
    bill = make_bill(books, 7_000, number="F-1")
    run = commands.payment_run_create(
        books.actor("integration", "API"),
        kind=PaymentRun.Kind.BATCH,
        entity_id=books.entity.id,
        items=[{"bill_id": str(bill.id)}],
    )

    def work() -> None:  # this test's worker: the task, in a thread
        try:
            tasks.batch_pay(str(run.id))
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    with holding_connection() as other_writer:
        other_writer.execute(TOUCH_BILL, [bill.id])
        worker.start()
        wait_for(
            lambda: backends_waiting_for(other_writer), 30, "the first attempt to wait for the bill"
        )
        other_writer.commit()
        # Half a second at least before the next attempt: time to hold the bill again.
        wait_for(
            lambda: item_state(run.id)[:2] == ("PENDING", "concurrency_retry_exhausted"),
            30,
            "the first attempt to fail",
        )
        other_writer.execute(TOUCH_BILL, [bill.id])
        wait_for(
            lambda: backends_waiting_for(other_writer),
            30,
            "the second attempt to wait for the bill",
        )
        other_writer.commit()
    worker.join(timeout=30)

    assert not worker.is_alive()
    assert item_state(run.id) == ("FAILED", "concurrency_retry_exhausted", 503, 2)
    assert PaymentRun.objects.get(pk=run.pk).status == "COMPLETED"
    assert not Payment.objects.filter(bill=bill).exists()
    assert_invariants_hold()
