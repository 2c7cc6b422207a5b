"""Reads for the ledger: the views and reports go through these."""

from datetime import date
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from ledger import rules
from ledger.models import Account, AccountBalance, Entity, JournalEntry, JournalEntryLine
from platform_integrity import reads


def journal_entry_list(*, entity_id=None, status=None, search=None) -> QuerySet[JournalEntry]:
    entries = JournalEntry.objects.select_related("entity", "prepared_by", "approved_by")
    if entity_id:
        entries = entries.filter(entity_id=entity_id)
    if status:
        entries = entries.filter(status=status)
    if search:
        entries = entries.filter(Q(memo__icontains=search) | Q(external_id__icontains=search))
    return entries.order_by("-created_at")


def account_balance(account_id) -> AccountBalance | None:
    """An account's running balance. The hottest read of the API: one statement written
    once, not compiled per request."""
    found = reads.rows(AccountBalance, "account_id = %s", [account_id])
    return found[0] if found else None


def trial_balance(entity: Entity, as_of: date | None = None) -> dict[str, Any]:
    """Debit and credit per account as of a date (today when none), from the running
    balances.

    As of today (or later) it reads `account_balance` only. For an earlier date
    it subtracts the posted movement dated after `as_of`, which touches only the
    lines since then rather than every line ever posted.
    """
    today = timezone.localdate()
    report_date = as_of or today
    as_of = rules.trial_balance_date(as_of, today)
    balances = {
        b.account_id: b.balance_minor
        for b in AccountBalance.objects.filter(entity=entity).only("account_id", "balance_minor")
    }
    if as_of is not None:
        later = (
            JournalEntryLine.objects.filter(
                journal_entry__entity=entity,
                journal_entry__status=JournalEntry.Status.POSTED,
                journal_entry__posting_date__gt=as_of,
            )
            .values("coa_account_id", "direction")
            .annotate(total=Sum("functional_amount_minor"))
        )
        for row in later:
            sign = 1 if row["direction"] == JournalEntryLine.Direction.DEBIT else -1
            balances[row["coa_account_id"]] = (
                balances.get(row["coa_account_id"], 0) - sign * row["total"]
            )
    rows = []
    for account in Account.objects.filter(entity=entity).order_by("code"):
        balance = balances.get(account.id, 0)
        if balance == 0:
            continue
        rows.append(
            {
                "account_id": str(account.id),
                "code": account.code,
                "name": account.name,
                "type": account.type,
                "debit_minor": balance if balance > 0 else 0,
                "credit_minor": -balance if balance < 0 else 0,
            }
        )
    return {
        "entity_id": str(entity.id),
        "as_of": report_date.isoformat(),
        "currency_code": entity.functional_currency,
        "rows": rows,
        "total_debit_minor": sum(r["debit_minor"] for r in rows),
        "total_credit_minor": sum(r["credit_minor"] for r in rows),
    }
