"""Ledger invariants for verify_integrity (SPEC §5, 1, 2 and 6)."""

from collections import defaultdict
from uuid import UUID

from django.db import connection

from ledger.models import AccountBalance, Entity
from platform_integrity.integrity import invariant


def signed_movements_by_account(entity_id: UUID) -> dict[UUID, int]:
    """Σ signed functional amounts of POSTED lines per account (the invariant's right side)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT l.coa_account_id,
                   SUM(CASE WHEN l.direction = 'DEBIT' THEN l.functional_amount_minor
                            ELSE -l.functional_amount_minor END)
              FROM journal_entry_line l JOIN journal_entry e ON e.id = l.journal_entry_id
             WHERE e.status = 'POSTED' AND e.entity_id = %s
             GROUP BY l.coa_account_id
            """,
            [entity_id],
        )
        return defaultdict(int, dict(cursor.fetchall()))


@invariant("account balance = sum of posted lines")
def balances_match_posted_lines() -> list[str]:
    violations = []
    for entity_id in Entity.objects.values_list("id", flat=True):
        movements = signed_movements_by_account(entity_id)
        for balance in AccountBalance.objects.filter(entity_id=entity_id):
            expected = movements.get(balance.account_id, 0)
            if balance.balance_minor != expected:
                violations.append(
                    f"account {balance.account_id}: balance {balance.balance_minor}, "
                    f"posted lines sum to {expected}"
                )
    return violations


@invariant("trial balance nets to zero")
def trial_balance_nets_to_zero() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT entity_id, SUM(balance_minor) FROM account_balance "
            "GROUP BY entity_id HAVING SUM(balance_minor) <> 0"
        )
        return [f"entity {entity}: balances net to {total}" for entity, total in cursor.fetchall()]


@invariant("posted entries balance")
def posted_entries_balance() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT e.id,
                   SUM(l.functional_amount_minor) FILTER (WHERE l.direction = 'DEBIT'),
                   SUM(l.functional_amount_minor) FILTER (WHERE l.direction = 'CREDIT')
              FROM journal_entry e JOIN journal_entry_line l ON l.journal_entry_id = e.id
             WHERE e.status = 'POSTED'
             GROUP BY e.id
            HAVING SUM(CASE WHEN l.direction = 'DEBIT' THEN l.functional_amount_minor
                            ELSE -l.functional_amount_minor END) <> 0
            """
        )
        return [f"entry {e}: debits {d}, credits {c}" for e, d, c in cursor.fetchall()]


@invariant("approval above threshold by someone other than the preparer")
def approvals_are_segregated() -> list[str]:
    """Each posted manual entry is judged by the threshold it was routed by: above it, an
    approver who neither prepared, edited nor submitted it; at or under it, auto-approved."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT e.id, e.total_debit_minor, e.routed_threshold_minor,
                   e.prepared_by_id, e.submitted_by_id, e.approved_by_id
              FROM journal_entry e
             WHERE e.status = 'POSTED' AND e.source_type IN ('MANUAL', 'REVERSAL')
               AND (e.routed_threshold_minor IS NULL
                    OR e.approved_by_id IS NULL AND NOT e.auto_approved
                    OR e.approved_by_id IS NULL
                       AND e.total_debit_minor > e.routed_threshold_minor
                    OR e.approved_by_id = e.prepared_by_id
                    OR e.approved_by_id = e.submitted_by_id
                    OR e.contributor_ids @> to_jsonb(e.approved_by_id))
            """
        )
        return [
            f"entry {e}: total {t} vs threshold {th} when routed, preparer {p}, "
            f"submitter {s}, approver {a}"
            for e, t, th, p, s, a in cursor.fetchall()
        ]
