"""The one place that takes row locks, in the lock order the settings give.

`RIVANE_LOCK_ORDER` names the tables whose rows commands lock, in the order they
are locked — then ids ascending inside a table. Every command locks the parent
rows it will change through `lock_rows`, which refuses to go backwards in that
order, so two units of work can never wait on each other in a cycle. FOR NO KEY UPDATE is enough
to serialize writers and does not conflict with the FOR KEY SHARE that foreign
key checks of child inserts take on the same parents.
"""

import functools
from collections.abc import Iterable
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection, models

from platform_integrity import reads
from platform_integrity.unit import current

M = TypeVar("M", bound=models.Model)


def lock_rows(model: type[M], ids: Iterable[Any], *, by: str = "pk") -> list[M]:
    return send_lock(model, ids, by=by).rows()


def send_lock(model: type[M], ids: Iterable[Any], *, by: str = "pk") -> reads.Pending[M]:
    """Send the lock of the rows of `model` whose `by` is in `ids`; read them with `.rows()`.

    Locks sent one after another are taken in the order they are sent.
    """
    table = _ranked(model)
    wanted = sorted({str(i) for i in ids})
    current().locking.extend((table, row_id) for row_id in wanted)
    if not wanted:
        return reads.Pending(model)
    return reads.send(model, _lock_condition(model, by), [wanted])


def send_lock_where(
    model: type[M], condition: str, params: list[Any], *, by: str = "pk"
) -> reads.Pending[M]:
    """Send the lock of the rows of `model` that meet `condition` (SQL after WHERE, with
    %s: rows found through others, say), in `by` order; read them with `.rows()`."""
    table = _ranked(model)
    uow = current()
    key = model._meta.pk if by == "pk" else model._meta.get_field(by)
    return reads.send(
        model,
        f"{condition} ORDER BY {connection.ops.quote_name(key.column)} FOR NO KEY UPDATE",
        params,
        then=lambda found: uow.locking.extend(
            (table, str(getattr(row, key.attname))) for row in found
        ),
    )


def _ranked(model: type[models.Model]) -> str:
    """The model's table, once the unit's locks so far allow locking it now."""
    uow = current()
    table = model._meta.db_table
    order = settings.RIVANE_LOCK_ORDER
    rank = order.index(table)
    if rank < uow.lock_rank:
        raise RuntimeError(f"Lock order violated: {table} after {order[uow.lock_rank]}")
    uow.lock_rank = rank
    return table


@functools.cache
def _lock_condition(model: type[models.Model], by: str) -> str:
    key = model._meta.pk if by == "pk" else model._meta.get_field(by)
    column = connection.ops.quote_name(key.column)
    return f"{column} = ANY(%s::{key.db_type(connection)}[]) ORDER BY {column} FOR NO KEY UPDATE"


def lock_one(model: type[M], pk: Any) -> M | None:
    locked = lock_rows(model, [pk])
    return locked[0] if locked else None
