"""The one place that takes row locks, in the documented lock order.

Order: journal_entry, bill, payment, vendor, account_balance — then ids
ascending inside a table. Every command locks the parent rows it will change
through `lock_rows`, which refuses to go backwards in that order, so two units
of work can never wait on each other in a cycle. FOR NO KEY UPDATE is enough
to serialize writers and does not conflict with the FOR KEY SHARE that foreign
key checks of child inserts take on the same parents.
"""

import functools
from collections.abc import Iterable
from typing import Any, TypeVar

from django.db import connection, models

from platform_integrity import reads
from platform_integrity.unit_of_work import current

LOCK_ORDER = ("journal_entry", "bill", "payment", "vendor", "account_balance")

M = TypeVar("M", bound=models.Model)


def lock_rows(model: type[M], ids: Iterable[Any], *, by: str = "pk") -> list[M]:
    uow = current()
    table = model._meta.db_table
    rank = LOCK_ORDER.index(table)
    if rank < uow.lock_rank:
        raise RuntimeError(f"Lock order violated: {table} after {LOCK_ORDER[uow.lock_rank]}")
    uow.lock_rank = rank
    wanted = sorted({str(i) for i in ids})
    uow.locking.extend((table, row_id) for row_id in wanted)
    if not wanted:
        return []
    return reads.rows(model, _lock_condition(model, by), [wanted])


@functools.cache
def _lock_condition(model: type[models.Model], by: str) -> str:
    key = model._meta.pk if by == "pk" else model._meta.get_field(by)
    column = connection.ops.quote_name(key.column)
    return f"{column} = ANY(%s::{key.db_type(connection)}[]) ORDER BY {column} FOR NO KEY UPDATE"


def lock_one(model: type[M], pk: Any) -> M | None:
    locked = lock_rows(model, [pk])
    return locked[0] if locked else None
