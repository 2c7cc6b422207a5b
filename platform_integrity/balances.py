"""The balance primitive: the only writer of `account_balance`."""

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from django.db import connection
from django.utils import timezone

from platform_integrity import outbox
from platform_integrity.errors import OptimisticLockConflict
from platform_integrity.locks import lock_rows, send_lock_where
from platform_integrity.models import AccountBalance
from platform_integrity.reads import Pending


def send_locks(accounts: str, params: list[Any]) -> Pending[AccountBalance]:
    """Lock the balances of the accounts in the SQL array `accounts` (with `params`), in
    the order `BalanceChanges` locks them; their rows, read, are its `locked`."""
    return send_lock_where(AccountBalance, f"account_id = ANY({accounts})", params, by="account_id")


def apply_deltas(
    deltas: Mapping[UUID, int],
    *,
    cause: Mapping[str, Any],
    expected_versions: Mapping[UUID, int] | None = None,
) -> list[AccountBalance]:
    """Add signed functional-currency deltas to account balances (debit-positive)."""
    return apply_movements([(deltas, cause)], expected_versions=expected_versions)


def apply_movements(
    movements: Sequence[tuple[Mapping[UUID, int], Mapping[str, Any]]],
    *,
    expected_versions: Mapping[UUID, int] | None = None,
) -> list[AccountBalance]:
    """Apply several postings' deltas, in order, to the account balances they touch."""
    return BalanceChanges(movements, expected_versions=expected_versions).apply()


class BalanceChanges:
    """Several postings' deltas for the account balances they touch, locked and checked.

    Creating it locks the balance rows (ids ascending) and checks any expected
    versions; `apply` writes them. Each posting is one change of each of its
    balances: its own version bump and its own `balance.updated`, with the
    balance it left. They reach the table in one UPDATE — one row change per
    account however many postings and lines fed it. Locking apart from writing
    lets a unit lock first and send all its writes together (`bulk.pipelined`).
    """

    def __init__(
        self,
        movements: Sequence[tuple[Mapping[UUID, int], Mapping[str, Any]]],
        *,
        expected_versions: Mapping[UUID, int] | None = None,
        locked: Mapping[UUID, AccountBalance] | None = None,
    ) -> None:
        """`locked`: balance rows, by account, the unit has locked already (`send_locks`)."""
        self.touched = sorted(
            {a for deltas, _ in movements for a, d in deltas.items() if d}, key=str
        )
        self.events: list[dict[str, Any]] = []
        self.totals: dict[UUID, int] = dict.fromkeys(self.touched, 0)
        self.bumps: dict[UUID, int] = dict.fromkeys(self.touched, 0)
        self.rows: list[AccountBalance] = []
        if not self.touched:
            return
        rows = {a: row for a in self.touched if (row := (locked or {}).get(a)) is not None}
        missing = [a for a in self.touched if a not in rows]
        if missing:
            rows.update(
                (r.account_id, r) for r in lock_rows(AccountBalance, missing, by="account_id")
            )
        self.rows = [rows[account_id] for account_id in self.touched]
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
        for deltas, cause in movements:
            for account_id, delta in sorted(deltas.items(), key=lambda item: str(item[0])):
                if not delta:
                    continue
                row = rows[account_id]
                row.balance_minor += delta
                row.version += 1
                self.totals[account_id] += delta
                self.bumps[account_id] += 1
                self.events.append(
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

    def apply(self) -> list[AccountBalance]:
        """Write the changes; the balance rows as they now stand. Reads nothing back."""
        if not self.touched:
            return []
        now = timezone.now()
        values = ", ".join(["(%s::uuid, %s::bigint, %s::bigint)"] * len(self.touched))
        params: list[Any] = []
        for account_id in self.touched:
            params += [str(account_id), self.totals[account_id], self.bumps[account_id]]
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE account_balance b
                   SET balance_minor = b.balance_minor + d.delta,
                       version = b.version + d.bumps,
                       updated_at = %s
                  FROM (VALUES {values}) AS d(account_id, delta, bumps)
                 WHERE b.account_id = d.account_id
                """,
                [now, *params],
            )
        for row in self.rows:
            row.updated_at = now
        outbox.emit_many("balance.updated", self.events)
        return self.rows
