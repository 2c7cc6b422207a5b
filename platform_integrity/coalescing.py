"""Coalescing: the calls queued behind an entity's lock run as one unit of work.

Writers of one entity take turns on its advisory lock (`unit_of_work`), so a hot
entity moves one unit of work at a time, and most of a small unit's cost is
fixed: BEGIN, the lock statements, one statement per row changed, the audit
head, COMMIT and its WAL flush. So the caller that gets the lock takes every
call of the same command queued behind it and answers them together: one
SERIALIZABLE transaction, set-based writes (one INSERT per table, one UPDATE
per locked parent row), one commit. Nothing is relaxed: the batch is a guarded
unit of work, every parent row is locked in lock order before it changes, each
request is checked against the state the ones before it left, and each gets its
own answer, audit row and events. Under no contention nothing is queued.

A caller of a command declared with `coalesce=`:

1. in one round trip (`rivane_queue_call`, migration 0007), finds its entity,
   tries the entity's lock and, if it is taken, queues its call in
   `queued_command` (committed at once; the table is UNLOGGED); with the lock,
   it leads at once;
2. queued, it waits in line for the lock in that same round trip, server side
   (`rivane_wait_turn`, migration 0005), and looks for its outcome once it has
   it: a leader wrote it in the transaction that did the work, and it is the
   answer. Answered,
   it lets the lock go at once to the next in line; so when a batch ends, the
   callers it answered pass the lock on inside the server, and only the first
   caller it did not answer keeps it — no herd of waiters racing for the lock
   while it stays idle;
3. not answered, it holds the lock: in one more statement it enters the
   money-writes gate and reads the calls queued behind it for its command —
   or for any command of its queue (`Coalescing.queue`) — up to `max_batch`,
   then leads them and its own, each by its own command, answering each
   before COMMIT.

A batch that fails other than by conflict (conflicts are retried whole) answers
no one: its leader runs its own call alone, and every other caller leads its
own turn, so one bad call fails only itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

import orjson
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connection, models
from django.utils.module_loading import import_string

from platform_integrity import permissions, reads
from platform_integrity.bulk import to_json
from platform_integrity.context import Actor
from platform_integrity.errors import ConcurrencyRetryExhausted, DomainError
from platform_integrity.ids import as_uuid
from platform_integrity.locks import LOCK_ORDER
from platform_integrity.unit_of_work import (
    GATE_KEY,
    Coalescing,
    Request,
    Serialization,
    UnitOfWork,
    chain_for,
    record_rejection,
    run_unit,
)

logger = logging.getLogger(__name__)

# A queued call older than this is not picked up by a leader (its caller leads
# its own turn), and rows older than ABANDONED_AFTER (their caller died) go. A
# leader's read of the queue walks the index entries of this window (migration 0006).
FRESH_FOR = "10 seconds"
ABANDONED_AFTER = "1 hour"


M = TypeVar("M", bound=models.Model)


class BatchFailed(RuntimeError):
    """A coalesced batch raised for all of its requests; each is retried alone."""


# command name -> (its batch function, its Coalescing), for every coalescing command.
_COMMANDS: dict[str, tuple[Callable[[list[Request]], list[Any]], Coalescing]] = {}


def register(name: str, fn: Callable[[list[Request]], list[Any]], coalesce: Coalescing) -> None:
    _COMMANDS[name] = (fn, coalesce)


def _queue_of(name: str, coalesce: Coalescing) -> list[str]:
    """The commands whose queued calls a leader of `name` answers."""
    if coalesce.queue is None:
        return [name]
    return [n for n, (_, c) in _COMMANDS.items() if c.queue == coalesce.queue]


def call(
    name: str,
    coalesce: Coalescing,
    request: Request,
    entity_of: Callable[..., UUID | None] | None,
) -> Any:
    entity_id, queued_id, outcome = _queue_call(name, coalesce, request, entity_of)
    if outcome is not None:
        return _settle(_decode(outcome, coalesce))
    serialization = Serialization(chain_for(entity_id))
    try:
        followers = _take_turn(chain_for(entity_id), name, queued_id, coalesce)
        return _lead(name, request, followers, entity_id, serialization)
    finally:
        serialization.release()


def _lead(
    name: str,
    own: Request,
    followers: Sequence[tuple[int, str, Request]],
    entity_id: UUID | None,
    serialization: Serialization,
) -> Any:
    calls = [(name, own), *((command, request) for _, command, request in followers)]
    uow = UnitOfWork(name, own.actor, chain_for(entity_id), entity_id)

    def work() -> list[Any]:
        outcomes: list[Any] = [None] * len(calls)
        # Each command answers its calls in one go, in lock order, the leader's first
        # among equals (the calls are independent: none can name a row another makes).
        commands = sorted(
            dict.fromkeys(command for command, _ in calls),
            key=lambda command: LOCK_ORDER.index(_COMMANDS[command][1].first_lock),
        )
        for command in commands:
            run = _COMMANDS[command][0]
            mine = [i for i, (c, _) in enumerate(calls) if c == command]
            with uow.acting_as(own.actor, command):
                try:
                    answered = run([calls[i][1] for i in mine])
                except DomainError as err:
                    if followers:
                        raise BatchFailed(name) from err
                    raise
            for i, outcome in zip(mine, answered, strict=True):
                outcomes[i] = outcome
        for (command, request), outcome in zip(calls, outcomes, strict=True):
            if isinstance(outcome, DomainError):
                with uow.acting_as(request.actor, command):
                    record_rejection(uow, outcome, request.kwargs)
        return outcomes

    def answer(outcomes: list[Any]) -> None:
        _answer(followers, outcomes[1:])

    try:
        outcomes = run_unit(
            work, uow, serialization, own.kwargs, before_commit=answer, pipelined=True
        )
    except ConcurrencyRetryExhausted:
        raise
    except Exception:
        if not followers:
            raise
        logger.exception(
            "%s: a batch of %d calls failed; the leader's runs alone", name, len(calls)
        )
        return _lead(name, own, (), entity_id, serialization)
    return _settle(outcomes[0])


def dump_row(instance: models.Model) -> dict[str, Any]:
    """A model instance as a JSON-ready answer: every column, so the caller needs no query."""
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def load_row(model: type[M], values: dict[str, Any]) -> M:
    """The instance `dump_row` described, as if read from the database."""
    fields = model._meta.concrete_fields
    return model.from_db(
        DEFAULT_DB_ALIAS,
        [f.attname for f in fields],
        [None if (v := values[f.attname]) is None else f.to_python(v) for f in fields],
    )


def _settle(outcome: Any) -> Any:
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def _queue_call(
    name: str,
    coalesce: Coalescing,
    request: Request,
    entity_of: Callable[..., UUID | None] | None,
) -> tuple[UUID | None, int | None, dict[str, Any] | None]:
    """(entity, queued row id, outcome), in one round trip (`rivane_queue_call`, migration
    0007): with the entity's lock free, (entity, None, None) and we hold it; else our call
    is queued and we wait in line: its outcome if a batch answered it, else None and we
    hold the lock.

    The entity is looked up server side (`Coalescing.entity_row`), since every caller of
    a busy entity runs this.
    """
    row: tuple[str | None, ...] = (None, None, None)
    row_id = given_entity = None
    if coalesce.entity_row:
        model, argument = coalesce.entity_row
        meta = model._meta
        row = (meta.db_table, meta.pk.column, meta.get_field("entity").column)
        row_id = as_uuid(request.kwargs.get(argument))
    else:
        given_entity = as_uuid(entity_of(**request.kwargs) if entity_of else None)
    actor = request.actor
    with connection.cursor() as cursor:
        cursor.execute(
            "CALL rivane_queue_call(%s, %s, %s, %s::uuid, %s::uuid,"
            " %s, %s, %s, %s::inet, %s::jsonb, NULL, NULL, NULL)",
            [
                *row,
                row_id,
                given_entity,
                name,
                actor.user.pk if actor.user is not None else None,
                actor.channel,
                actor.ip,
                to_json(request.kwargs),
            ],
        )
        entity_id, queued_id, outcome = cursor.fetchone()
    # Django's connection reads jsonb as text (its JSONField decodes it).
    return entity_id, queued_id, orjson.loads(outcome) if outcome is not None else None


def _take_turn(
    chain: str, name: str, queued_id: int | None, coalesce: Coalescing
) -> list[tuple[int, str, Request]]:
    """With the entity's lock held, in one statement: enter the money-writes gate, remove
    our own queued row, and read the calls to lead with ours — the fresh, unanswered
    calls queued for this chain and our command's queue, oldest first, each with its
    command and its caller's user. Rows abandoned long ago go.
    """
    user_model = get_user_model()
    quote = connection.ops.quote_name
    user_table, user_key = quote(user_model._meta.db_table), quote(user_model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH ours AS (
                DELETE FROM queued_command WHERE id = %s
            ), abandoned AS (
                DELETE FROM queued_command
                 WHERE chain = %s AND enqueued_at < now() - interval '{ABANDONED_AFTER}'
            )
            SELECT pending.*, {reads.columns(user_model, "u")},
                   {permissions.permission_names(f"u.{user_key}")}
              FROM (SELECT pg_advisory_lock_shared(%s)) AS gate
              LEFT JOIN LATERAL rivane_queued_calls(%s, %s, %s, interval '{FRESH_FOR}', %s)
                AS pending ON true
              LEFT JOIN {user_table} u ON u.{user_key} = pending.user_id
            """,
            [
                queued_id,
                chain,
                GATE_KEY,
                chain,
                _queue_of(name, coalesce),
                queued_id or 0,
                coalesce.max_batch - 1,
            ],
        )
        # The gate's row comes back alone (all NULL) when nothing is queued.
        rows = [row for row in cursor.fetchall() if row[0] is not None]
    users: dict[Any, Any] = {}
    for row in rows:
        if row[2] not in users:  # a user's calls come in a run: its instance is made once
            user = reads.from_columns(user_model, row[6:-1])
            user._perm_cache = set(row[-1])  # the commands check what each caller may do
            users[row[2]] = user
    return [
        (
            queued,
            command,
            Request(
                Actor(users[user_id], channel, ip),
                _restored(command, orjson.loads(arguments)),
            ),
        )
        for queued, command, user_id, channel, ip, arguments, *_ in rows
    ]


def _restored(command: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    restore = _COMMANDS[command][1].restore
    return restore(kwargs) if restore else kwargs


def _encode(outcome: Any, coalesce: Coalescing) -> dict[str, Any]:
    if isinstance(outcome, DomainError):
        kind = type(outcome)
        return {
            "error": f"{kind.__module__}.{kind.__qualname__}",
            "detail": outcome.detail,
            "extra": outcome.extra,
        }
    return {"result": coalesce.dump(outcome)}


def _decode(outcome: dict[str, Any], coalesce: Coalescing) -> Any:
    if "error" in outcome:
        return import_string(outcome["error"])(outcome["detail"], **outcome["extra"])
    return coalesce.load(outcome["result"])


def _answer(followers: Sequence[tuple[int, str, Request]], outcomes: list[Any]) -> None:
    if not followers:
        return
    params: list[Any] = []
    for (queued_id, command, _), outcome in zip(followers, outcomes, strict=True):
        params += [queued_id, to_json(_encode(outcome, _COMMANDS[command][1]))]
    values = ", ".join(["(%s::bigint, %s::jsonb)"] * len(followers))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE queued_command q SET outcome = v.outcome"
            f" FROM (VALUES {values}) AS v(id, outcome) WHERE q.id = v.id",
            params,
        )
