"""The balance primitive: the only writer of `account_balance`."""

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from django.db import connection

from platform_integrity import outbox
from platform_integrity.errors import OptimisticLockConflict
from platform_integrity.locks import lock_rows
from platform_integrity.models import AccountBalance


def apply_deltas(
    deltas: Mapping[UUID, int],
    *,
    cause: Mapping[str, Any],
    expected_versions: Mapping[UUID, int] | None = None,
) -> list[AccountBalance]:
    """Add signed functional-currency deltas to account balances (debit-positive).

    Locks the balance rows (ids ascending), checks any expected versions, then
    applies every delta in one UPDATE — one row change per account however many
    lines fed it — bumps `version` and emits `balance.updated` per account.
    """
    changed = {account_id: delta for account_id, delta in deltas.items() if delta}
    if not changed:
        return []
    rows = lock_rows(AccountBalance, changed, by="account_id")
    for row in rows:
        expected = (expected_versions or {}).get(row.account_id)
        if expected is not None and expected != row.version:
            raise OptimisticLockConflict(
                f"Balance of account {row.account_id} is at version {row.version}, not {expected}.",
                object_type="account_balance",
                object_id=str(row.id),
                current_version=row.version,
                retry="Read the balance again and resend with its current version.",
            )
    values = ", ".join(["(%s::uuid, %s::bigint)"] * len(changed))
    params: list[Any] = [p for item in sorted(changed.items()) for p in (str(item[0]), item[1])]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE account_balance b
               SET balance_minor = b.balance_minor + d.delta,
                   version = b.version + 1,
                   updated_at = now()
              FROM (VALUES {values}) AS d(account_id, delta)
             WHERE b.account_id = d.account_id
         RETURNING b.id, b.account_id, b.entity_id, b.balance_minor, b.currency_code,
                   b.version, b.updated_at
            """,
            params,
        )
        updated = [AccountBalance(*row) for row in cursor.fetchall()]
    outbox.emit_many(
        "balance.updated",
        [
            {
                "account_id": str(b.account_id),
                "entity_id": str(b.entity_id),
                "balance_minor": b.balance_minor,
                "delta_minor": changed[b.account_id],
                "currency_code": b.currency_code,
                "version": b.version,
                "cause": dict(cause),
            }
            for b in updated
        ],
    )
    return updated
