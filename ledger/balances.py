"""Account balances: the running totals every posting moves, locked in lock order."""

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from ledger.models import Account, AccountBalance, Entity
from platform_integrity import outbox, reads
from platform_integrity.errors import OptimisticLockConflict
from platform_integrity.locks import lock_rows, send_lock_where
from platform_integrity.unit import current

# One posting's signed functional movement per account, and what caused it.
Movement = tuple[Mapping[UUID, int], Mapping[str, Any]]


def send_locks(accounts: str, params: list[Any]) -> reads.Pending[AccountBalance]:
    """Lock the balances of the accounts in the SQL array `accounts` (with `params`), in
    account order; read them with `.rows()` and hand them to `move` as `locked`."""
    return send_lock_where(AccountBalance, f"account_id = ANY({accounts})", params, by="account_id")


def send_role_locks(entity_ids: set[UUID], roles: tuple[str, ...]) -> reads.Pending[AccountBalance]:
    """Lock the balances of the entities' accounts in these roles (AP control, bank, ...)
    only: SERIALIZABLE turns a third read row of one table page into a read of the whole
    page, which every other entity's balance change on that page then conflicts with."""
    return send_locks(role_accounts(roles), [[str(i) for i in entity_ids]])


def send_entry_locks(entity_id: UUID, accounts: set[UUID]) -> reads.Pending[AccountBalance]:
    """Lock the balances of those of `accounts` that belong to the entity (another
    entity's account is refused later, by the line checks, and its balance not locked)."""
    return send_locks(
        reads.array_of(Account, ("id",), "id = ANY(%s::uuid[]) AND entity_id = %s"),
        [[str(a) for a in accounts], entity_id],
    )


def role_accounts(roles: tuple[str, ...]) -> str:
    """SQL: the array of the accounts in these roles of the entities of the array %s."""
    return reads.array_of(Entity, roles, "id = ANY(%s::uuid[])")


def move(
    movements: Sequence[Movement],
    *,
    locked: Mapping[UUID, AccountBalance] | None = None,
    expected_versions: Mapping[UUID, int] | None = None,
) -> None:
    """Move the balances of several postings: each posting is one change of each balance
    it touches (a version, a `balance.updated`), the table written once by the unit.

    `locked`: balance rows, by account, locked already; the others are locked here.
    """
    touched = sorted({a for deltas, _ in movements for a, d in deltas.items() if d}, key=str)
    if not touched:
        return
    rows = {a: row for a in touched if (row := (locked or {}).get(a)) is not None}
    missing = [a for a in touched if a not in rows]
    if missing:
        rows.update((r.account_id, r) for r in lock_rows(AccountBalance, missing, by="account_id"))
    for account_id, expected in (expected_versions or {}).items():
        row = rows.get(account_id)
        if row is not None and expected != row.version:
            raise OptimisticLockConflict(
                f"Balance of account {account_id} is at version {row.version}, not {expected}.",
                object_type="account_balance",
                object_id=str(row.id),
                current_version=row.version,
                retry="Read the balance again and resend with its current version.",
            )
    changes, events = current().changes, []
    for deltas, cause in movements:
        for account_id, delta in sorted(deltas.items(), key=lambda item: str(item[0])):
            if not delta:
                continue
            row = rows[account_id]
            changes.move(row, delta)
            events.append(
                {
                    "account_id": str(account_id),
                    "entity_id": str(row.entity_id),
                    "balance_minor": row.balance_minor,
                    "delta_minor": delta,
                    "currency_code": row.currency_code,
                    "version": row.version,
                    "cause": dict(cause),
                }
            )
    outbox.emit_many("balance.updated", events)
