"""Model rows read by SQL written once per statement, for the reads every unit of work makes.

The ORM compiles a queryset's SQL on every evaluation; for the few reads each
command makes on its hot path (row locks, the open period) that compiling cost
more than the query. These statements are built once from the model's
metadata, and each row becomes an instance as if the ORM had read it.
"""

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)


class Pending(Generic[M]):
    """Rows of `model` a statement already sent will return; `rows()` reads them.

    Inside a pipeline (`bulk.pipelined`, which every coalesced unit of work runs in),
    statements sent one after another travel and come back together: reads sent
    before the first of them is read share one round trip to the server.
    """

    def __init__(
        self,
        model: type[M],
        cursor: Any = None,
        then: Callable[[list[M]], None] | None = None,
    ) -> None:
        self.model, self._cursor, self._then = model, cursor, then

    def rows(self) -> list[M]:
        if self._cursor is None:
            return []
        with self._cursor as cursor:
            found = [_instance(self.model, row) for row in cursor.fetchall()]
        if self._then is not None:
            self._then(found)
        return found


def send(
    model: type[M],
    condition: str,
    params: list[Any],
    then: Callable[[list[M]], None] | None = None,
) -> Pending[M]:
    """Send the read of every row of `model` that meets `condition` (SQL after WHERE,
    with %s); `then(rows)` runs once they are read."""
    cursor = connection.cursor()
    cursor.execute(_statement(model, condition), params)
    return Pending(model, cursor, then)


def rows(model: type[M], condition: str, params: list[Any]) -> list[M]:
    """Instances of every row of `model` that meets `condition` (SQL after WHERE, with %s)."""
    return send(model, condition, params).rows()


@functools.cache
def array_of(model: type[models.Model], fields: tuple[str, ...], condition: str) -> str:
    """SQL: the array of the `fields` values of the rows of `model` that meet `condition`
    (SQL after WHERE, with %s), for a statement to look up by (`= ANY(...)`).

    PostgreSQL computes such an array once, before the scan that uses it, so that scan
    looks up just those keys: a join can read the other table's whole index, and under
    SERIALIZABLE that read conflicts with every other entity's writes to it.
    """
    quote = connection.ops.quote_name
    names = [quote(model._meta.get_field(name).column) for name in fields]
    values = names[0] if len(names) == 1 else f"unnest(ARRAY[{', '.join(names)}])"
    return f"ARRAY(SELECT {values} FROM {quote(model._meta.db_table)} WHERE {condition})"


def columns(model: type[models.Model], alias: str) -> str:
    """Every column of `model` under a table alias, for a statement that joins it
    (`from_columns` makes an instance of them)."""
    return ", ".join(f"{alias}.{column}" for column in _reading(model)[0])


def from_columns(model: type[M], values: Sequence[Any]) -> M | None:
    """The instance of `model` whose columns (`columns`' order) are `values`; None when
    they are all NULL (an outer join found no row)."""
    if all(value is None for value in values):
        return None
    return _instance(model, tuple(values))


def by_ids(model: type[M], ids: Iterable[Any]) -> dict[Any, M]:
    """Instances of `model` by primary key (the ORM's `in_bulk`); ids must be well formed."""
    return {row.pk: row for row in send_by_ids(model, ids).rows()}


def send_by_ids(model: type[M], ids: Iterable[Any]) -> Pending[M]:
    """`by_ids`, sent now: read its rows with `.rows()`."""
    wanted = list(set(ids))
    if not wanted:
        return Pending(model)
    return send(model, _pk_condition(model), [wanted])


@functools.cache
def _pk_condition(model: type[models.Model]) -> str:
    pk = model._meta.pk
    return f"{connection.ops.quote_name(pk.column)} = ANY(%s::{pk.db_type(connection)}[])"


@functools.cache
def _statement(model: type[models.Model], condition: str) -> str:
    """The SELECT of every column of the rows that meet `condition`."""
    table = connection.ops.quote_name(model._meta.db_table)
    return f"SELECT {', '.join(_reading(model)[0])} FROM {table} WHERE {condition}"


@functools.cache
def _reading(
    model: type[models.Model],
) -> tuple[list[str], list[str], tuple[tuple[int, Callable[..., Any]], ...]]:
    """The model's quoted columns, their attribute names, and the fields' conversions of
    what the database returns."""
    quote = connection.ops.quote_name
    fields = model._meta.concrete_fields
    converters = tuple(
        (i, f.from_db_value) for i, f in enumerate(fields) if hasattr(f, "from_db_value")
    )
    return [quote(f.column) for f in fields], [f.attname for f in fields], converters


def _instance(model: type[M], row: tuple) -> M:
    """The instance of one row of `model`'s columns, as if the ORM had read it."""
    _, attnames, converters = _reading(model)
    if converters:
        values = list(row)
        for i, convert in converters:
            values[i] = convert(values[i], None, connection)
        row = tuple(values)
    return model.from_db(connection.alias, attnames, row)
