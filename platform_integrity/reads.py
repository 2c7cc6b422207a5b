"""Model rows read by SQL written once per statement, for the reads every unit of work makes.

The ORM compiles a queryset's SQL on every evaluation; for the few reads each
command makes on its hot path (row locks, the open period) that compiling cost
more than the query. These statements are built once from the model's
metadata, and each row becomes an instance as if the ORM had read it.
"""

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)


def rows(model: type[M], condition: str, params: list[Any]) -> list[M]:
    """Instances of every row of `model` that meets `condition` (SQL after WHERE, with %s)."""
    sql, attnames, converters = _statement(model, condition)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if converters:
        rows = [_converted(row, converters) for row in rows]
    return [model.from_db(connection.alias, attnames, row) for row in rows]


def columns(model: type[models.Model], alias: str) -> str:
    """Every column of `model` under a table alias, for a statement that joins it
    (`from_columns` makes an instance of them)."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(f.column)}" for f in model._meta.concrete_fields)


def from_columns(model: type[M], values: Sequence[Any]) -> M | None:
    """The instance of `model` whose columns (`columns`' order) are `values`; None when
    they are all NULL (an outer join found no row)."""
    if all(value is None for value in values):
        return None
    _, attnames, converters = _statement(model, "true")
    row = _converted(tuple(values), converters) if converters else tuple(values)
    return model.from_db(connection.alias, attnames, row)


def by_ids(model: type[M], ids: Iterable[Any]) -> dict[Any, M]:
    """Instances of `model` by primary key (the ORM's `in_bulk`); ids must be well formed."""
    wanted = list(set(ids))
    if not wanted:
        return {}
    return {row.pk: row for row in rows(model, _pk_condition(model), [wanted])}


@functools.cache
def _pk_condition(model: type[models.Model]) -> str:
    pk = model._meta.pk
    return f"{connection.ops.quote_name(pk.column)} = ANY(%s::{pk.db_type(connection)}[])"


@functools.cache
def _statement(
    model: type[models.Model], condition: str
) -> tuple[str, list[str], tuple[tuple[int, Callable[..., Any]], ...]]:
    """The SELECT of every column, and the fields' conversions of what the database returns."""
    meta = model._meta
    quote = connection.ops.quote_name
    fields = meta.concrete_fields
    sql = (
        f"SELECT {', '.join(quote(f.column) for f in fields)} FROM {quote(meta.db_table)}"
        f" WHERE {condition}"
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
