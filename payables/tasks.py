"""Celery tasks: thin wrappers that work a payment run through the canonical command.

A run's task is sent when the run is created (on commit) and again by the sweeper
when the run waits too long or its worker died. Any number of copies may arrive:
only the worker that claims the run works it (`commands.payment_run_claim`).
"""

import logging
from uuid import UUID

from celery import shared_task

from payables import commands
from payables.models import PaymentRun, PaymentRunItem

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
    run = commands.payment_run_claim(run_id)
    if run is None:
        _resume_later(task, run_id)
        return
    for item in run.items.filter(outcome=PaymentRunItem.Outcome.PENDING).order_by("position"):
        if commands.payment_run_item_execute(run, item) is None:
            return  # another worker holds the run now
    commands.payment_run_finish(run)


def _resume_later(task, run_id: str) -> None:
    """A redelivered task (its worker died: `reject_on_worker_lost`, or the broker's
    visibility timeout) may find the run still leased to that worker: it comes back
    when the lease runs out. Any other copy leaves the run to whoever holds it."""
    redelivered = (task.request.delivery_info or {}).get("redelivered")
    if not (redelivered or task.request.retries) or task.request.retries >= RESUME_RETRIES:
        return
    left = commands.payment_run_lease_left(run_id)
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
    """On beat: send again the tasks of runs nobody works (`commands.payment_runs_to_resend`)."""
    due = commands.payment_runs_to_resend()
    for run_id, kind in due:
        payment_run_send(run_id, kind)
    return len(due)
