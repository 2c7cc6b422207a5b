"""The only writers of ledger records: each command is one guarded unit of work.

Setting up (`setup`): entities, accounts, periods, FX rates. Journal entries
(`journal_entries`): create, update, submit, void, reverse; an approver's decision
(`approvals`): approve, reject.
"""

from ledger.commands.approvals import journal_entry_approve, journal_entry_reject
from ledger.commands.journal_entries import (
    journal_entry_create,
    journal_entry_reverse,
    journal_entry_submit,
    journal_entry_update,
    journal_entry_void,
)
from ledger.commands.setup import (
    account_create,
    account_set_active,
    entity_create,
    entity_update,
    fx_rate_create,
    period_close,
    period_create,
    period_reopen,
)

__all__ = [
    "account_create",
    "account_set_active",
    "entity_create",
    "entity_update",
    "fx_rate_create",
    "journal_entry_approve",
    "journal_entry_create",
    "journal_entry_reject",
    "journal_entry_reverse",
    "journal_entry_submit",
    "journal_entry_update",
    "journal_entry_void",
    "period_close",
    "period_create",
    "period_reopen",
]
