"""Every row a unit of work writes: gathered while it runs, written once before COMMIT.

Commands say what changes — `add` a new row, `change` fields of a locked one, `move`
a running total — and never save: the unit of work flushes its changeset at the end,
one INSERT per table, one UPDATE per table and set of fields, and one UPDATE per
table of running totals (`bulk`), with the historical rows of every change. A batch
of requests thus costs a statement per table, not per request.

A running total is a parent row that carries the sum of its children and a version
(an account's balance, a vendor's open balance): the model names it in
`running_total`. Each `move` is one change of the total — its own version, its own
historical row — and the table is written once, adding the moves up.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, models
from django.utils import timezone

from platform_integrity import bulk, history


@dataclass
class _Log:
    removed: list[models.QuerySet] = field(default_factory=list)
    added: list[tuple[models.Model, Any]] = field(default_factory=list)
    changed: list[tuple[models.Model, tuple[str, ...]]] = field(default_factory=list)
    moved: list[tuple[models.Model, int]] = field(default_factory=list)
    history: list[tuple[type, dict[str, Any]]] = field(default_factory=list)


class Changeset:
    def __init__(self) -> None:
        self._log = _Log()
        self._new: set[int] = set()
        # The first instance moved of each running total: another instance of the same
        # row (read by another command of the batch) moves on from where it stands.
        self._totals: dict[tuple[type, Any], models.Model] = {}

    def add(self, obj: models.Model, actor: Any) -> models.Model:
        """A new row, written as it stands at the end of the unit (one historical row)."""
        self._log.added.append((obj, actor))
        self._new.add(id(obj))
        return obj

    def add_all(self, objs: list[models.Model], actor: Any) -> None:
        for obj in objs:
            self.add(obj, actor)

    def added(self, model: type[models.Model], **attrs: Any) -> models.Model | None:
        """A row of `model` added in this unit whose attributes are `attrs` (a key the
        unit remembered, an entry it created), before it is written."""
        for obj, _ in self._log.added:
            if type(obj) is model and all(getattr(obj, k) == v for k, v in attrs.items()):
                return obj
        return None

    def remove(self, rows: models.QuerySet) -> None:
        """Rows that go (a draft's lines, replaced): deleted first, before any insert."""
        self._log.removed.append(rows)

    def change(self, obj: models.Model, fields: list[str] | tuple[str, ...], actor: Any) -> None:
        """`fields` of a stored, locked row changed; its historical row is taken now. A
        row added in this unit is written once, as it ends."""
        if id(obj) in self._new or not fields:
            return
        self._log.changed.append((obj, tuple(fields)))
        self._keep_history(obj, actor, update=True)

    def move(self, row: models.Model, delta: int, actor: Any = None) -> None:
        """Add `delta` to a locked running total: one change, one version."""
        total = type(row).running_total
        first = self._totals.setdefault((type(row), row.pk), row)
        setattr(row, total, getattr(first, total) + delta)
        row.version = first.version + 1
        setattr(first, total, getattr(row, total))
        first.version = row.version
        self._log.moved.append((row, delta))
        self._keep_history(row, actor, update=True)

    def mark(self) -> tuple[int, ...]:
        log = self._log
        return len(log.removed), len(log.added), len(log.changed), len(log.moved), len(log.history)

    def rewind(self, mark: tuple[int, ...]) -> None:
        """Forget what was gathered since `mark` (a request of a batch that failed)."""
        log = self._log
        removed, added, changed, moved, kept = mark
        for obj, _ in log.added[added:]:
            self._new.discard(id(obj))
        del log.removed[removed:], log.added[added:], log.changed[changed:]
        del log.moved[moved:], log.history[kept:]

    def _keep_history(self, obj: models.Model, actor: Any, *, update: bool) -> None:
        if hasattr(type(obj), "history"):
            self._log.history.append((type(obj), history.row(obj, actor, update=update)))

    def flush(self) -> None:
        """Write everything gathered; the unit's transaction commits right after."""
        log = self._log
        for rows in log.removed:
            _delete(rows)
        added: dict[type, list[models.Model]] = defaultdict(list)
        for obj, _ in log.added:
            added[type(obj)].append(obj)
        for model, objs in added.items():
            bulk.insert(objs, read_ids=model._meta.pk.db_returning)
        for obj, actor in log.added:  # as inserted: with what the insert filled in
            self._keep_history(obj, actor, update=False)
        fields_of: dict[int, tuple[models.Model, set[str]]] = {}
        for obj, fields in log.changed:
            fields_of.setdefault(id(obj), (obj, set()))[1].update(fields)
        updates: dict[tuple[type, tuple[str, ...]], list[models.Model]] = defaultdict(list)
        for obj, fields in fields_of.values():
            updates[(type(obj), tuple(sorted(fields)))].append(obj)
        for (_, fields), objs in updates.items():
            bulk.update(objs, fields)
        _add_moves(log.moved)
        histories: dict[type, list[dict[str, Any]]] = defaultdict(list)
        for model, row in log.history:
            histories[model].append(row)
        for model, rows in histories.items():
            history.write(model, rows)
        self._log, self._new, self._totals = _Log(), set(), {}


def _delete(rows: models.QuerySet) -> None:
    """DELETE the rows of a queryset, asking for no row count (the unit is pipelined)."""
    meta = rows.model._meta
    quote = connection.ops.quote_name
    sql, params = rows.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} IN ({sql})",
            params,
        )


def _add_moves(moved: list[tuple[models.Model, int]]) -> None:
    """One UPDATE per table of running totals: each row gains its deltas and versions."""
    by_table: dict[type, dict[Any, list[int]]] = defaultdict(dict)
    now = timezone.now()
    for row, delta in moved:
        delta_and_bumps = by_table[type(row)].setdefault(row.pk, [0, 0])
        delta_and_bumps[0] += delta
        delta_and_bumps[1] += 1
        if _has_field(type(row), "updated_at"):
            row.updated_at = now
    for model, rows in by_table.items():
        meta = model._meta
        quote = connection.ops.quote_name
        pk, total = quote(meta.pk.column), quote(meta.get_field(model.running_total).column)
        pk_type = meta.pk.db_type(connection)
        stamp = ", updated_at = %s" if _has_field(model, "updated_at") else ""
        values = ", ".join([f"(%s::{pk_type}, %s::bigint, %s::bigint)"] * len(rows))
        params: list[Any] = [now] if stamp else []
        for key, (delta, bumps) in rows.items():
            params += [str(key), delta, bumps]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {quote(meta.db_table)} t SET {total} = t.{total} + d.delta,"
                f" version = t.version + d.bumps{stamp}"
                f" FROM (VALUES {values}) AS d(id, delta, bumps) WHERE t.{pk} = d.id",
                params,
            )


@functools.cache
def _has_field(model: type[models.Model], name: str) -> bool:
    return any(f.name == name for f in model._meta.concrete_fields)
