"""Set-based writes for a unit of work's rows: one INSERT, or one UPDATE, per table.

Every row goes in one JSON document, read by `jsonb_to_recordset`: the statement
text is fixed per table (so psycopg and PostgreSQL prepare it once), orjson encodes
it (UUIDs, dates and times natively, in microseconds), and PostgreSQL parses each
value as its column's type from its JSON text. (Why not Django's `bulk_create` and
`bulk_update`: docs/performance.md.)
"""

import contextlib
import decimal
import functools
import logging
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import orjson
from django.db import connection, models
from django.db.models.expressions import DatabaseDefault
from django.db.models.sql import Query
from psycopg import pq

M = TypeVar("M", bound=models.Model)


class PipelineAftermath(logging.Filter):
    """Drop psycopg's note that ending a pipeline failed *after* a statement in it failed.

    That statement's error (a serialization failure, say) is raised to the unit
    of work, which retries or reports it; the note only repeats it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("error ignored terminating <psycopg.Pipeline")


@contextlib.contextmanager
def pipelined() -> Iterator[None]:
    """Send the writes inside without waiting for each one's result (psycopg's pipeline mode).

    A unit of work's writes do not depend on one another, so a dozen of them
    cost one round trip to the server instead of a dozen; a statement whose
    rows are read (RETURNING) waits only for what was sent before it. Errors
    surface at that read or at the end of the block, as Django's database
    errors, so a serialization failure is still retried. Only statements that
    never ask for a row count belong here.

    Inside a block already pipelined, it joins it: it waits for nothing.
    """
    connection.ensure_connection()
    if connection.connection.pgconn.pipeline_status != pq.PipelineStatus.OFF:
        yield
        return
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield


def _decimal(value: Any) -> str:
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a column value")


def to_json(value: Any) -> str:
    """Field values as PostgreSQL reads them back: times keep their microseconds,
    decimals their digits (as strings, never floats)."""
    return orjson.dumps(value, default=_decimal, option=orjson.OPT_NON_STR_KEYS).decode()


def _quoted(name: str) -> str:
    return connection.ops.quote_name(name)


def _recordset(fields: Sequence[models.Field]) -> str:
    columns = ", ".join(f"{_quoted(field.column)} {field.db_type(connection)}" for field in fields)
    return f"jsonb_to_recordset(%s::jsonb) AS r({columns})"


@functools.cache
def _insert_statement(
    model: type[models.Model], returning: bool
) -> tuple[str, list[models.Field], bool]:
    meta = model._meta
    auto_pk = meta.pk.db_returning
    fields = [field for field in meta.concrete_fields if not (field is meta.pk and auto_pk)]
    columns = ", ".join(_quoted(field.column) for field in fields)
    values = ", ".join(_value(model, field) for field in fields)
    sql = (
        f"INSERT INTO {_quoted(meta.db_table)} ({columns})"
        f" SELECT {values} FROM {_recordset(fields)}"
    )
    if auto_pk and returning:
        sql += f" RETURNING {_quoted(meta.pk.column)}"
    return sql, fields, auto_pk and returning


def _value(model: type[models.Model], field: models.Field) -> str:
    """A column's value in the INSERT: as sent, or its database default where none was
    (a field with `db_default` whose instance was left to it)."""
    column = _quoted(field.column)
    if field.db_default is models.NOT_PROVIDED:
        return column
    query = Query(model)
    default, params = query.get_compiler(connection=connection).compile(
        field.db_default.resolve_expression(query)
    )
    if params:
        raise ValueError(f"{field}: a database default with parameters is not supported")
    return f"COALESCE({column}, {default})"


@functools.cache
def _update_statement(
    model: type[models.Model], field_names: tuple[str, ...]
) -> tuple[str, list[models.Field]]:
    meta = model._meta
    fields = [meta.pk, *(meta.get_field(name) for name in field_names)]
    pk = _quoted(meta.pk.column)
    assignments = ", ".join(
        f"{name} = r.{name}" for name in map(_quoted, (f.column for f in fields[1:]))
    )
    # The key list lets the planner fetch just these rows through the primary key;
    # joining on the recordset alone, it reads the whole index, which under
    # SERIALIZABLE also conflicts with every other writer of the table.
    sql = (
        f"UPDATE {_quoted(meta.db_table)} t SET {assignments}"
        f" FROM {_recordset(fields)} WHERE t.{pk} = r.{pk}"
        f" AND t.{pk} = ANY(%s::{meta.pk.db_type(connection)}[])"
    )
    return sql, fields


@functools.cache
def _insert_reading(
    model: type[models.Model], returning: bool
) -> tuple[tuple[str, models.Field | None], ...]:
    """(attribute, field) for each inserted column; the field only where its value is
    worked out when the row is saved (`auto_now_add`, say): the others are written as the
    instance holds them, as `Field.pre_save` would."""
    _, fields, _ = _insert_statement(model, returning)
    return tuple(
        (field.attname, None if type(field).pre_save is models.Field.pre_save else field)
        for field in fields
    )


def insert(objs: Sequence[M], *, read_ids: bool = True) -> list[M]:
    """INSERT `objs` (one model); an auto primary key is read back onto each object.

    With `read_ids=False` nothing is read back, so inside `pipelined` the
    statement does not wait for the server.
    """
    if not objs:
        return list(objs)
    model = type(objs[0])
    reading = _insert_reading(model, read_ids)
    ids = insert_values(
        model,
        [
            {
                name: getattr(obj, name) if computed is None else computed.pre_save(obj, add=True)
                for name, computed in reading
            }
            for obj in objs
        ],
        read_ids=read_ids,
    )
    for obj, pk in zip(objs, ids or [None] * len(objs), strict=True):
        if pk is not None:
            setattr(obj, model._meta.pk.attname, pk)
        obj._state.adding = False
    return list(objs)


def insert_values(
    model: type[models.Model], rows: Sequence[dict[str, Any]], *, read_ids: bool = False
) -> list[Any] | None:
    """INSERT rows given as {attname: value}; with `read_ids`, their auto primary keys."""
    if not rows:
        return []
    sql, fields, returning = _insert_statement(model, read_ids)
    document = to_json(
        [
            {
                field.column: None
                if isinstance(value := row[field.attname], DatabaseDefault)
                else value
                for field in fields
            }
            for row in rows
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [document])
        return [pk for (pk,) in cursor.fetchall()] if returning else None


def update(objs: Sequence[models.Model], field_names: Sequence[str]) -> None:
    """UPDATE `field_names` of `objs` (one model, primary keys set) to their values."""
    if not objs:
        return
    sql, fields = _update_statement(type(objs[0]), tuple(field_names))
    document = to_json(
        [{field.column: getattr(obj, field.attname) for field in fields} for obj in objs]
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [document, [obj.pk for obj in objs]])
