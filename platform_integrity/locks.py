"""The one place that takes row locks, in the documented lock order.

Order: journal_entry, bill, payment, vendor, account_balance — then ids
ascending inside a table. Every command locks the parent rows it will change
through `lock_rows`, which refuses to go backwards in that order, so two units
of work can never wait on each other in a cycle. FOR NO KEY UPDATE is enough
to serialize writers and does not conflict with the FOR KEY SHARE that foreign
key checks of child inserts take on the same parents.
"""

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.db import connection, models

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
    sql, attnames, converters = _lock_statement(model, by)
    with connection.cursor() as cursor:
        cursor.execute(sql, [wanted])
        rows = cursor.fetchall()
    if converters:
        rows = [_converted(row, converters) for row in rows]
    return [model.from_db(connection.alias, attnames, row) for row in rows]


@functools.cache
def _lock_statement(
    model: type[models.Model], by: str
) -> tuple[str, list[str], tuple[tuple[int, Callable[..., Any]], ...]]:
    """The row-locking SELECT of every column, written once per model (the ORM compiled
    it on every call), and the fields' conversions of what the database returns."""
    meta = model._meta
    key = meta.pk if by == "pk" else meta.get_field(by)
    quote = connection.ops.quote_name
    fields = meta.concrete_fields
    sql = (
        f"SELECT {', '.join(quote(f.column) for f in fields)} FROM {quote(meta.db_table)}"
        f" WHERE {quote(key.column)} = ANY(%s::{key.db_type(connection)}[])"
        f" ORDER BY {quote(key.column)} FOR NO KEY UPDATE"
    )
    converters = tuple(
        (i, f.from_db_value) for i, f in enumerate(fields) if hasattr(f, "from_db_value")
    )
    return sql, [f.attname for f in fields], converters


def _converted(row: tuple, converters: tuple[tuple[int, Callable[..., Any]], ...]) -> tuple:
    values = list(row)
    for i, convert in converters:
        values[i] = convert(values[i], None, connection)
    return tuple(values)


def lock_one(model: type[M], pk: Any) -> M | None:
    rows = lock_rows(model, [pk])
    return rows[0] if rows else None
