"""Celery tasks: thin wrappers that work a payment run through the canonical command."""

from celery import shared_task

from payables import commands
from payables.models import PaymentRunItem


def _work(run_id: str) -> None:
    run = commands.payment_run_claim(run_id)
    if run is None:
        return
    for item in run.items.filter(outcome=PaymentRunItem.Outcome.PENDING).order_by("position"):
        commands.payment_run_item_execute(run, item)
    commands.payment_run_finish(run)


@shared_task(name="payables.sync_import", ignore_result=True)
def sync_import(run_id: str) -> None:
    """Import a feed of payments already made (channel SYNC: each one submits and posts)."""
    _work(run_id)


@shared_task(name="payables.batch_pay", ignore_result=True)
def batch_pay(run_id: str) -> None:
    """Pay each bill of a batch its full balance due (channel BATCH)."""
    _work(run_id)
