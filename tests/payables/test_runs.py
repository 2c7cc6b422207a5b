"""Payment runs in-process: the task is sent on commit, workers claim runs under a
lease, the sweeper finds the runs nobody works, and an item a dead worker paid counts
as paid once."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models.functions import Now

from payables import commands, runs, tasks
from payables.models import Payment, PaymentRun, PaymentRunItem
from platform_integrity.errors import ValidationFailed
from tests.payables.conftest import api_client, make_bill

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent(monkeypatch) -> list:
    """The runs whose task was sent: (run id, kind, still inside a transaction?)."""
    sent = []
    monkeypatch.setattr(
        runs,
        "payment_run_send",
        lambda run_id, kind: sent.append((run_id, kind, connection.in_atomic_block)),
    )
    return sent


def batch(books, bills, **extra) -> PaymentRun:
    return commands.payment_run_create(
        books.actor("integration", "API"),
        kind=PaymentRun.Kind.BATCH,
        entity_id=books.entity.id,
        items=[{"bill_id": str(b.id)} for b in bills],
        **extra,
    )


def ago(seconds: float):
    return Now() - timedelta(seconds=seconds)


def test_run_create_sends_its_task_once_it_has_committed(books, sent):
    bill = make_bill(books, 1_000)
    run = batch(books, [bill], external_id="batch-1")
    assert sent == [(run.id, "BATCH", False)]

    replay = batch(books, [bill], external_id="batch-1")
    assert (replay.id, replay.replayed) == (run.id, True)
    with pytest.raises(ValidationFailed):
        commands.payment_run_create(
            books.actor("integration", "API"),
            kind=PaymentRun.Kind.BATCH,
            items=[{"bill_id": str(bill.id)}],
            external_id="no-entity",
        )
    assert len(sent) == 1  # neither the replay nor the refused run sends a task


def test_run_api_answers_202_and_its_task_is_sent_by_the_command(books, sent):
    bill = make_bill(books, 1_000)
    created = api_client(books.users["integration"]).post(
        "/v1/payment-batch-runs", {"bill_ids": [str(bill.id)]}, format="json"
    )
    assert created.status_code == 202, created.content
    body = created.json()
    assert (body["status"], body["claims"], body["lease_until"]) == ("QUEUED", 0, None)
    assert sent == [(PaymentRun.objects.get().id, "BATCH", False)]


def test_a_run_is_claimed_only_when_no_live_worker_holds_it(books, sent):
    run = batch(books, [make_bill(books, 1_000)])
    first = runs.payment_run_claim(run.id)
    assert (first.status, first.claims) == ("RUNNING", 1)
    assert runs.payment_run_claim(run.id) is None
    assert 0 < runs.payment_run_lease_left(run.id) <= 30

    PaymentRun.objects.filter(pk=run.pk).update(lease_until=ago(1))  # its worker died
    assert runs.payment_run_lease_left(run.id) is None
    second = runs.payment_run_claim(run.id)
    assert (second.claims, second.started_at) == (2, first.started_at)
    assert second.lease_token != first.lease_token

    # The worker taken for dead can neither go on nor finish the run.
    item = run.items.get()
    assert runs.payment_run_item_execute(first, item) is None
    assert not runs.payment_run_finish(first)
    assert runs.payment_run_item_execute(second, item).outcome == "SUCCEEDED"
    assert runs.payment_run_finish(second)
    done = PaymentRun.objects.get(pk=run.pk)
    assert (done.status, done.lease_until) == ("COMPLETED", None)
    assert runs.payment_run_claim(run.id) is None


def test_sweeper_sends_again_the_runs_nobody_works(books, sent, settings):
    settings.RIVANE_RUN_REQUEUE_AFTER_SECONDS = 60
    bill = make_bill(books, 1_000)
    fresh, waited, leased, abandoned, done = (batch(books, [bill]) for _ in range(5))
    runs = PaymentRun.objects
    runs.filter(pk=waited.pk).update(enqueued_at=ago(61))
    runs.filter(pk=leased.pk).update(
        status="RUNNING", enqueued_at=ago(600), lease_until=Now() + timedelta(seconds=10)
    )
    runs.filter(pk=abandoned.pk).update(status="RUNNING", enqueued_at=ago(20), lease_until=ago(1))
    runs.filter(pk=done.pk).update(status="COMPLETED", enqueued_at=ago(600))
    sent.clear()

    assert tasks.sweep_payment_runs() == 2
    assert sorted(sent) == sorted([(waited.id, "BATCH", False), (abandoned.id, "BATCH", False)])
    # Sent just now: not again before they have waited once more.
    assert tasks.sweep_payment_runs() == 0
    runs.filter(pk=abandoned.pk).update(enqueued_at=ago(61))
    assert tasks.sweep_payment_runs() == 1
    assert fresh.id not in {run_id for run_id, _, _ in sent}


def test_payment_its_dead_worker_made_counts_as_the_items_success(books, sent):
    bill = make_bill(books, 1_000)
    run = batch(books, [bill, bill])  # the same bill twice: the second is a replay
    runs.payment_run_claim(run.id)
    first = run.items.get(position=0)
    # A worker began the first item and its payment committed; then the worker died.
    PaymentRunItem.objects.filter(pk=first.pk).update(attempts=1)
    paid = commands.payment_submit(
        books.actor("integration", "BATCH"),
        bill_id=bill.id,
        external_id=first.external_id,
        entity_id=books.entity.id,
        post=True,
    )
    PaymentRun.objects.filter(pk=run.pk).update(lease_until=ago(1))

    tasks.batch_pay(str(run.id))

    items = run.items.order_by("position")
    assert list(items.values_list("outcome", "payment_id", "attempts")) == [
        ("SUCCEEDED", paid.id, 2),
        ("REPLAYED", paid.id, 1),
    ]
    assert Payment.objects.filter(bill=bill).count() == 1


def test_item_whose_attempts_all_died_with_their_workers_is_failed(books, sent, settings):
    bill = make_bill(books, 1_000)
    run = batch(books, [bill])
    PaymentRunItem.objects.filter(run=run).update(attempts=settings.RIVANE_RUN_ITEM_ATTEMPTS)

    tasks.batch_pay(str(run.id))

    item = run.items.get()
    assert (item.outcome, item.error_code, item.error_status) == (
        "FAILED",
        "attempts_exhausted",
        503,
    )
    assert PaymentRun.objects.get(pk=run.pk).status == "COMPLETED"
    assert not Payment.objects.filter(bill=bill).exists()
