"""The only writers of payables: vendors, bills, payments, payment runs.

Every money change runs as a guarded unit of work (`platform_integrity.command`).
`balance_due_minor`, `open_balance_minor`, `version` and payment status are written
here and nowhere else (tests/payables/test_no_bypass.py enforces it).
"""

from payables.commands.bills import bill_create
from payables.commands.payment_runs import payment_run_create
from payables.commands.payments import payment_post, payment_submit, payment_void
from payables.commands.vendors import vendor_create

__all__ = [
    "bill_create",
    "payment_post",
    "payment_run_create",
    "payment_submit",
    "payment_void",
    "vendor_create",
]
