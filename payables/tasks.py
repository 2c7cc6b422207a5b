"""The Celery tasks of payables (`payables.runs` works them), found here by Celery."""

from payables.runs import batch_pay, sweep_payment_runs, sync_import

__all__ = ["batch_pay", "sweep_payment_runs", "sync_import"]
