"""Working a payment run: the task a worker runs, its lease on the run, each item paid
through the one command path (`payables.commands.payment_submit`).

A run's task is sent when the run is created (on commit) and again by the sweeper
when the run waits too long or its worker died. Any number of copies may arrive:
only the worker that claims the run works it (`payment_run_claim`).
"""

import logging
import random
import time
import uuid
from datetime import timedelta
from typing import Any
from uuid import UUID

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from payables.commands.payments import payment_submit
from payables.models import Payment, PaymentRun, PaymentRunItem
from platform_integrity.context import Actor
from platform_integrity.errors import DatabaseUnavailable, DomainError, RetryLater

logger = logging.getLogger(__name__)

# One immediate retry (a pooled broker connection gone stale), no more: the sweeper
# sends the task again later, and the creating command waits on this.
SEND_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0}
RUN_TASK = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}
# A redelivered task waits this many times, at most, for the dead worker's lease to end.
RESUME_RETRIES = 3


def payment_run_send(run_id: UUID, kind: str) -> bool:
    """Send a run's task to the broker. False (logged) when the broker cannot be
    reached: the run stays QUEUED, and the sweeper sends it again."""
    task = sync_import if kind == PaymentRun.Kind.SYNC else batch_pay
    try:
        task.apply_async((str(run_id),), retry_policy=SEND_RETRY_POLICY)
    except Exception:
        logger.exception("payment run %s: its task could not be sent; the sweeper will", run_id)
        return False
    return True


def _work(task, run_id: str) -> None:
    run = payment_run_claim(run_id)
    if run is None:
        _resume_later(task, run_id)
        return
    for item in run.items.filter(outcome=PaymentRunItem.Outcome.PENDING).order_by("position"):
        if payment_run_item_execute(run, item) is None:
            return  # another worker holds the run now
    payment_run_finish(run)


def _resume_later(task, run_id: str) -> None:
    """A redelivered task (its worker died: `reject_on_worker_lost`, or the broker's
    visibility timeout) may find the run still leased to that worker: it comes back
    when the lease runs out. Any other copy leaves the run to whoever holds it."""
    redelivered = (task.request.delivery_info or {}).get("redelivered")
    if not (redelivered or task.request.retries) or task.request.retries >= RESUME_RETRIES:
        return
    left = payment_run_lease_left(run_id)
    if left is not None:
        raise task.retry(countdown=left + 0.5, max_retries=RESUME_RETRIES)


@shared_task(bind=True, name="payables.sync_import", **RUN_TASK)
def sync_import(self, run_id: str) -> None:
    """Import a feed of payments already made (channel SYNC: each one submits and posts)."""
    _work(self, run_id)


@shared_task(bind=True, name="payables.batch_pay", **RUN_TASK)
def batch_pay(self, run_id: str) -> None:
    """Pay each bill of a batch its full balance due (channel BATCH)."""
    _work(self, run_id)


@shared_task(name="payables.sweep_payment_runs", ignore_result=True)
def sweep_payment_runs() -> int:
    """On beat: send again the tasks of runs nobody works (`payment_runs_to_resend`)."""
    due = payment_runs_to_resend()
    for run_id, kind in due:
        payment_run_send(run_id, kind)
    return len(due)


def _lease_end() -> CombinedExpression:
    return Now() + timedelta(seconds=settings.RIVANE_RUN_LEASE_SECONDS)


def payment_run_claim(run_id: UUID) -> PaymentRun | None:
    """Compare-and-set: a QUEUED run, or a RUNNING one whose lease has run out (its
    worker died), becomes this worker's under a fresh lease. None if it is not free."""
    token = uuid.uuid4()
    claimed = (
        PaymentRun.objects.filter(pk=run_id)
        .filter(
            Q(status=PaymentRun.Status.QUEUED)
            | Q(status=PaymentRun.Status.RUNNING, lease_until__lt=Now())
        )
        .update(
            status=PaymentRun.Status.RUNNING,
            started_at=Coalesce("started_at", Now()),
            lease_until=_lease_end(),
            lease_token=token,
            claims=F("claims") + 1,
        )
    )
    return PaymentRun.objects.select_related("created_by").get(pk=run_id) if claimed else None


def payment_run_lease_left(run_id: UUID) -> float | None:
    """Seconds until the lease another worker holds on a RUNNING run runs out, if it does."""
    left = (
        PaymentRun.objects.filter(
            pk=run_id, status=PaymentRun.Status.RUNNING, lease_until__gte=Now()
        )
        .annotate(left=F("lease_until") - Now())
        .values_list("left", flat=True)
        .first()
    )
    return None if left is None else left.total_seconds()


def _renew_lease(run: PaymentRun) -> bool:
    """Extend this worker's lease on the run; False when it is no longer this worker's."""
    return bool(
        PaymentRun.objects.filter(
            pk=run.pk, status=PaymentRun.Status.RUNNING, lease_token=run.lease_token
        ).update(lease_until=_lease_end())
    )


def payment_run_item_execute(run: PaymentRun, item: PaymentRunItem) -> PaymentRunItem | None:
    """Pay one item through the canonical command and record its outcome (never raised).

    A transient failure — a `RetryLater` error (503) or a lost database connection —
    leaves the item PENDING with that error and it is tried again after a jittered,
    doubling wait; past `RIVANE_RUN_ITEM_ATTEMPTS` attempts it is FAILED. Attempts
    are counted before they start, so the ones a dying worker began count too. The
    item's idempotency key (`external_id`) makes an attempt after one whose commit
    was lost a replay, never a second payment.

    None when the run is no longer this worker's (its lease passed to another).
    """
    max_attempts = settings.RIVANE_RUN_ITEM_ATTEMPTS
    while True:
        if not _renew_lease(run):
            return None
        if item.attempts >= max_attempts:
            return _record(
                item,
                PaymentRunItem.Outcome.FAILED,
                code=item.error_code or "attempts_exhausted",
                status=item.error_status or 503,
                detail=item.error_detail or f"Gave up after {item.attempts} attempts.",
            )
        if not _begin_attempt(item):
            return item
        outcome, payment, error = _pay(run, item)
        if outcome is not None:
            return _record(item, outcome, payment=payment, **error)
        if item.attempts >= max_attempts:
            return _record(item, PaymentRunItem.Outcome.FAILED, **error)
        _record(item, PaymentRunItem.Outcome.PENDING, **error)
        time.sleep(_retry_wait(item.attempts))


def _begin_attempt(item: PaymentRunItem) -> bool:
    """Count an attempt at a still PENDING item; False if it is settled already."""
    begun = PaymentRunItem.objects.filter(
        pk=item.pk, outcome=PaymentRunItem.Outcome.PENDING
    ).update(attempts=F("attempts") + 1)
    item.attempts += 1
    return bool(begun)


def _retry_wait(attempts: int) -> float:
    return settings.RIVANE_RUN_RETRY_BACKOFF_SECONDS * 2 ** (attempts - 1) * random.uniform(0.5, 1)


def _pay(
    run: PaymentRun, item: PaymentRunItem
) -> tuple[str | None, Payment | None, dict[str, Any]]:
    """(outcome, payment, error) of one attempt; outcome None when it may be retried."""
    actor = Actor(user=run.created_by, channel=run.kind)
    try:
        payment = payment_submit(
            actor,
            bill_id=item.bill_id,
            amount_minor=item.amount_minor,
            currency_code=item.currency_code or None,
            external_id=item.external_id,
            entity_id=run.entity_id,
            post=True,
        )
    except RetryLater as err:
        return None, None, {"code": err.code, "status": err.status, "detail": err.detail}
    except (OperationalError, InterfaceError) as exc:
        # The connection is gone: the next query opens a new one.
        connection.close()
        error = {"code": DatabaseUnavailable.code, "status": 503, "detail": str(exc)}
        return None, None, error
    except DomainError as err:
        error = {"code": err.code, "status": err.status, "detail": err.detail}
        return PaymentRunItem.Outcome.REJECTED, None, error
    except Exception as exc:  # one broken item must not stop the rest of the run
        logger.exception("payment run %s item %s failed", run.id, item.position)
        error = {"code": "internal_error", "status": 500, "detail": str(exc)}
        return PaymentRunItem.Outcome.FAILED, None, error
    if payment.replayed and not _own_earlier_attempt(run, item, payment):
        return PaymentRunItem.Outcome.REPLAYED, payment, {}
    return PaymentRunItem.Outcome.SUCCEEDED, payment, {}


def _own_earlier_attempt(run: PaymentRun, item: PaymentRunItem, payment: Payment) -> bool:
    """A replayed payment that this item's own earlier attempt made (its worker died
    before recording it) is the item's success, not a replay: made since the run
    started, and no other item of the run holds it."""
    return (
        item.attempts > 1
        and payment.created_at >= run.started_at
        and not run.items.filter(payment=payment).exclude(pk=item.pk).exists()
    )


def _record(
    item: PaymentRunItem,
    outcome: str,
    *,
    payment: Payment | None = None,
    code: str = "",
    status: int | None = None,
    detail: str = "",
) -> PaymentRunItem:
    """Write an attempt's outcome on the item, if it is still PENDING (compare-and-set)."""
    item.outcome, item.payment = outcome, payment
    item.error_code, item.error_status, item.error_detail = code, status, detail
    item.finished_at = None if outcome == PaymentRunItem.Outcome.PENDING else timezone.now()
    PaymentRunItem.objects.filter(pk=item.pk, outcome=PaymentRunItem.Outcome.PENDING).update(
        outcome=item.outcome,
        payment=item.payment,
        error_code=item.error_code,
        error_status=item.error_status,
        error_detail=item.error_detail,
        finished_at=item.finished_at,
    )
    return item


def payment_run_finish(run: PaymentRun) -> bool:
    """COMPLETED, if the run is still this worker's and no item is left PENDING."""
    pending = PaymentRunItem.objects.filter(
        run=OuterRef("pk"), outcome=PaymentRunItem.Outcome.PENDING
    )
    return bool(
        PaymentRun.objects.filter(
            ~Exists(pending),
            pk=run.pk,
            status=PaymentRun.Status.RUNNING,
            lease_token=run.lease_token,
        ).update(status=PaymentRun.Status.COMPLETED, finished_at=Now(), lease_until=None)
    )


def payment_runs_to_resend(limit: int = 100) -> list[tuple[UUID, str]]:
    """(id, kind) of the runs whose task must be sent again, marked as sent now.

    - QUEUED, its task sent `RIVANE_RUN_REQUEUE_AFTER_SECONDS` ago or more: the broker
      was down when it was created, or lost the task;
    - RUNNING with its lease run out (its worker died), not sent since — or sent
      that long ago, in case that send was lost too.

    Sweepers running at once take different runs (SKIP LOCKED).
    """
    waited = Now() - timedelta(seconds=settings.RIVANE_RUN_REQUEUE_AFTER_SECONDS)
    queued = Q(status=PaymentRun.Status.QUEUED, enqueued_at__lte=waited)
    abandoned = Q(status=PaymentRun.Status.RUNNING, lease_until__lt=Now()) & (
        Q(enqueued_at__lt=F("lease_until")) | Q(enqueued_at__lte=waited)
    )
    with transaction.atomic():
        due = list(
            PaymentRun.objects.select_for_update(skip_locked=True)
            .filter(queued | abandoned)
            .order_by("enqueued_at")
            .values_list("id", "kind")[:limit]
        )
        PaymentRun.objects.filter(pk__in=[pk for pk, _ in due]).update(enqueued_at=Now())
    return due
