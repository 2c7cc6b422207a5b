"""Row ids as callers send them, and the entity a row belongs to (which picks a command's lock)."""

import functools
from typing import Any
from uuid import UUID

from django.db import connection, models


def as_uuid(value: Any) -> UUID | None:
    """`value` as a UUID, or None when it is not one."""
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def entity_id_of(model: type[models.Model], pk: Any) -> UUID | None:
    """The entity a row belongs to; None when the id is malformed or the row does not exist.

    Every queued caller runs this before it can queue, so it is one prepared statement.
    """
    key = as_uuid(pk)
    if key is None:
        return None
    with connection.cursor() as cursor:
        cursor.execute(entity_statement(model), [key])
        row = cursor.fetchone()
    return row[0] if row else None


@functools.cache
def entity_statement(model: type[models.Model]) -> str:
    """The SELECT of a row's entity, its id the one parameter (also a subquery elsewhere)."""
    meta = model._meta
    quote = connection.ops.quote_name
    return (
        f"SELECT {quote(meta.get_field('entity').column)} FROM {quote(meta.db_table)}"
        f" WHERE {quote(meta.pk.column)} = %s::{meta.pk.db_type(connection)}"
    )
