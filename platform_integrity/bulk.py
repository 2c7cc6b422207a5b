"""Set-based writes for a unit of work's rows: one INSERT, or one UPDATE, per table.

Django's `bulk_create` sends one PostgreSQL array per column (`UNNEST`), and
psycopg encodes an array of text in Python, escaping every quote of every
element: for audit and outbox rows, whose payloads are JSON documents, that was
most of a coalesced batch's time. `bulk_update` builds a `CASE WHEN pk = …`
per field and row, and a `VALUES` list is a new statement text for every row
count. These send every row in one JSON document instead, read by
`jsonb_to_recordset`: the statement text is fixed per table (so psycopg and
PostgreSQL prepare it once), and the encoding is the json module's C encoder.
PostgreSQL parses each value as its column's type, from its JSON text.
"""

import datetime
import decimal
import json
import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)


class RowEncoder(json.JSONEncoder):
    """Field values as PostgreSQL reads them back: times keep their microseconds."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.date | datetime.time):
            return o.isoformat()
        if isinstance(o, uuid.UUID | decimal.Decimal):
            return str(o)
        return super().default(o)


def _recordset(fields: Sequence[models.Field]) -> str:
    columns = ", ".join(
        f"{connection.ops.quote_name(field.column)} {field.db_type(connection)}" for field in fields
    )
    return f"jsonb_to_recordset(%s::jsonb) AS r({columns})"


def insert(objs: Sequence[M]) -> list[M]:
    """INSERT `objs` (one model); an auto primary key is read back onto each object."""
    if not objs:
        return list(objs)
    model = type(objs[0])
    fields = _inserted_fields(model)
    pks = insert_values(
        model, [{f.attname: f.pre_save(obj, add=True) for f in fields} for obj in objs]
    )
    for obj, pk in zip(objs, pks, strict=True):
        if pk is not None:
            setattr(obj, model._meta.pk.attname, pk)
        obj._state.adding = False
    return list(objs)


def _inserted_fields(model: type[models.Model]) -> list[models.Field]:
    pk = model._meta.pk
    return [field for field in model._meta.concrete_fields if not (field is pk and pk.db_returning)]


def insert_values(model: type[models.Model], rows: Sequence[dict[str, Any]]) -> list[Any]:
    """INSERT rows given as {attname: value}; the auto primary keys (or Nones), in order."""
    if not rows:
        return []
    meta = model._meta
    fields = _inserted_fields(model)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    document = json.dumps(
        [{field.column: row[field.attname] for field in fields} for row in rows],
        cls=RowEncoder,
    )
    auto_pk = meta.pk.db_returning
    returning = f" RETURNING {connection.ops.quote_name(meta.pk.column)}" if auto_pk else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns})"
            f" SELECT {columns} FROM {_recordset(fields)}{returning}",
            [document],
        )
        return [pk for (pk,) in cursor.fetchall()] if auto_pk else [None] * len(rows)


def update(objs: Sequence[models.Model], field_names: Sequence[str]) -> None:
    """UPDATE `field_names` of `objs` (one model, primary keys set) to their values."""
    if not objs:
        return
    meta = type(objs[0])._meta
    fields = [meta.pk, *(meta.get_field(name) for name in field_names)]
    rows = [{field.column: getattr(obj, field.attname) for field in fields} for obj in objs]
    pk = connection.ops.quote_name(meta.pk.column)
    assignments = ", ".join(
        f"{name} = r.{name}" for name in (connection.ops.quote_name(f.column) for f in fields[1:])
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {connection.ops.quote_name(meta.db_table)} t SET {assignments}"
            f" FROM {_recordset(fields)} WHERE t.{pk} = r.{pk}",
            [json.dumps(rows, cls=RowEncoder)],
        )
