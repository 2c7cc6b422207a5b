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

1. in one statement, finds its entity, tries the entity's lock and, if it is
   taken, queues its call in `queued_command` (committed at once; the table is
   UNLOGGED); with the lock, it leads at once;
2. queued, it waits for the lock's holder to let go — in shared mode, without
   taking the lock, so every waiter wakes at once rather than in turn;
3. then, in one statement, takes its row back if it has an outcome (a leader
   wrote it in the transaction that did the work, and it is the answer) or,
   with no outcome yet, tries the lock; if someone else got it, back to 2;
4. with the lock, in one more statement, it enters the money-writes gate, looks
   for its outcome again and reads the calls queued behind it for the same
   command (up to `max_batch`); it leads them and its own, answering each
   before COMMIT.

Those statements are few on purpose: when a batch ends every waiter wakes, and
the next leader's statements queue for the CPU behind the whole herd, while
the entity's lock stays idle.

A batch that fails other than by conflict (conflicts are retried whole) answers
no one: its leader runs its own call alone, and every other caller leads its
own turn, so one bad call fails only itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connection, models
from django.utils.module_loading import import_string

from platform_integrity.audit import PayloadEncoder
from platform_integrity.bulk import to_json
from platform_integrity.context import Actor
from platform_integrity.errors import ConcurrencyRetryExhausted, DomainError
from platform_integrity.ids import as_uuid, entity_statement
from platform_integrity.unit_of_work import (
    ADVISORY_KEY_SQL,
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
# its own turn), and rows older than ABANDONED_AFTER (their caller died) go.
FRESH_FOR = "30 seconds"
ABANDONED_AFTER = "1 hour"


M = TypeVar("M", bound=models.Model)


class BatchFailed(RuntimeError):
    """A coalesced batch raised for all of its requests; each is retried alone."""


def call(
    name: str,
    fn: Callable[[list[Request]], list[Any]],
    coalesce: Coalescing,
    request: Request,
    entity_of: Callable[..., UUID | None] | None,
) -> Any:
    entity_id, queued_id = _lock_or_queue(name, coalesce, request, entity_of)
    serialization = Serialization(chain_for(entity_id))
    if queued_id is not None:
        while True:
            serialization.wait_for_holder()
            outcome, locked = _answer_or_lock(queued_id, serialization)
            if outcome is not None:
                return _settle(_decode(outcome, coalesce))
            if locked:
                break
    try:
        outcome, followers = _take_turn(chain_for(entity_id), name, queued_id, coalesce)
        if outcome is not None:
            # A whole batch answered us between our last look and the lock.
            return _settle(_decode(outcome, coalesce))
        return _lead(name, fn, coalesce, request, followers, entity_id, serialization)
    finally:
        serialization.release()


def _lead(
    name: str,
    fn: Callable[[list[Request]], list[Any]],
    coalesce: Coalescing,
    own: Request,
    followers: Sequence[tuple[int, Request]],
    entity_id: UUID | None,
    serialization: Serialization,
) -> Any:
    requests = [own, *(request for _, request in followers)]
    uow = UnitOfWork(name, own.actor, chain_for(entity_id), entity_id)

    def work() -> list[Any]:
        try:
            outcomes = fn(requests)
        except DomainError as err:
            if followers:
                raise BatchFailed(name) from err
            raise
        for request, outcome in zip(requests, outcomes, strict=True):
            if isinstance(outcome, DomainError):
                with uow.acting_as(request.actor):
                    record_rejection(uow, outcome, request.kwargs)
        return outcomes

    def answer(outcomes: list[Any]) -> None:
        _answer(followers, outcomes[1:], coalesce)

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
            "%s: a batch of %d calls failed; the leader's runs alone", name, len(requests)
        )
        return _lead(name, fn, coalesce, own, (), entity_id, serialization)
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


def _lock_or_queue(
    name: str,
    coalesce: Coalescing,
    request: Request,
    entity_of: Callable[..., UUID | None] | None,
) -> tuple[UUID | None, int | None]:
    """(entity, None) holding the entity's lock if it was free, else (entity, queued row id).

    One statement — the entity lookup (`Coalescing.entity_row`), the lock attempt
    and the queueing — since every caller of a busy entity runs it.
    """
    if coalesce.entity_row:
        model, argument = coalesce.entity_row
        target, key = f"({entity_statement(model)})", as_uuid(request.kwargs.get(argument))
    else:
        target, key = "%s::uuid", as_uuid(entity_of(**request.kwargs) if entity_of else None)
    actor = request.actor
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH attempt AS MATERIALIZED (
                SELECT entity_id, chain, pg_try_advisory_lock({_CHAIN_KEY}) AS got
                  FROM (SELECT entity_id, COALESCE('entity:' || entity_id::text, 'global') AS chain
                          FROM (SELECT {target} AS entity_id) AS target) AS named
            ), queued AS (
                INSERT INTO queued_command (chain, command, user_id, channel, ip, arguments,
                                            enqueued_at)
                SELECT chain, %s, %s, %s, %s, %s::jsonb, now() FROM attempt WHERE NOT got
                RETURNING id
            )
            SELECT entity_id, (SELECT id FROM queued) FROM attempt
            """,
            [
                key,
                name,
                actor.user.pk if actor.user is not None else None,
                actor.channel,
                actor.ip,
                json.dumps(request.kwargs, cls=PayloadEncoder),
            ],
        )
        entity_id, queued_id = cursor.fetchone()
    return entity_id, queued_id


_CHAIN_KEY = ADVISORY_KEY_SQL.format(chain="chain")


def _answer_or_lock(
    queued_id: int, serialization: Serialization
) -> tuple[dict[str, Any] | None, bool]:
    """(our queued call's outcome, removing its row, if a leader has answered it, else
    None; whether we then took the entity's lock) — one statement.

    Its snapshot predates the lock, so whoever takes the lock looks again (`_take_turn`).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH answered AS (
                DELETE FROM queued_command WHERE id = %s AND outcome IS NOT NULL
                RETURNING outcome
            )
            SELECT (SELECT outcome FROM answered),
                   EXISTS (SELECT 1 FROM queued_command WHERE id = %s),
                   CASE WHEN EXISTS (SELECT 1 FROM answered) THEN false
                        ELSE pg_try_advisory_lock(%s) END
            """,
            [queued_id, queued_id, serialization.entity_key],
        )
        outcome, queued, locked = cursor.fetchone()
    _refuse_vanished(queued_id, queued)
    return _loaded(outcome), locked


def _take_turn(
    chain: str, name: str, queued_id: int | None, coalesce: Coalescing
) -> tuple[dict[str, Any] | None, list[tuple[int, Request]]]:
    """With the entity's lock held, in one statement: enter the money-writes gate, then
    either take our queued call's outcome (a batch answered it before we got the lock)
    or remove our row and read the calls to lead — the fresh, unanswered calls queued
    for this chain and command, oldest first. Rows abandoned long ago are removed.

    Its snapshot is taken with the lock held, so every batch that answered us shows.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH answered AS (
                DELETE FROM queued_command WHERE id = %s AND outcome IS NOT NULL
                RETURNING outcome
            ), ours AS (
                DELETE FROM queued_command WHERE id = %s AND outcome IS NULL
            ), abandoned AS (
                DELETE FROM queued_command
                 WHERE chain = %s AND enqueued_at < now() - interval '{ABANDONED_AFTER}'
            )
            SELECT * FROM (
                SELECT 0 AS part, NULL::bigint AS id, NULL::integer, NULL::text, NULL::inet,
                       NULL::text, (SELECT outcome FROM answered),
                       %s::bigint IS NULL OR EXISTS (SELECT 1 FROM queued_command WHERE id = %s),
                       pg_advisory_lock_shared(%s) IS NOT NULL
                UNION ALL
                (SELECT 1, id, user_id, channel, ip, arguments::text, NULL, true, true
                   FROM queued_command
                  WHERE chain = %s AND command = %s AND outcome IS NULL AND id <> %s
                    AND enqueued_at > now() - interval '{FRESH_FOR}'
                    AND NOT EXISTS (SELECT 1 FROM answered)
                  ORDER BY id LIMIT %s)
            ) AS turn ORDER BY part, id
            """,
            [
                queued_id,
                queued_id,
                chain,
                queued_id,
                queued_id,
                GATE_KEY,
                chain,
                name,
                queued_id or 0,
                coalesce.max_batch - 1,
            ],
        )
        (*_, outcome, queued, _), *rows = cursor.fetchall()
    if queued_id is not None:
        _refuse_vanished(queued_id, queued)
    if outcome is not None:
        return _loaded(outcome), []
    pending = [row[1:6] for row in rows]  # id, user_id, channel, ip, arguments
    users = get_user_model().objects.in_bulk({user for _, user, *_ in pending if user is not None})
    restore = coalesce.restore or (lambda kwargs: kwargs)
    return None, [
        (queued, Request(Actor(users.get(user), channel, ip), restore(json.loads(arguments))))
        for queued, user, channel, ip, arguments in pending
    ]


def _refuse_vanished(queued_id: int, queued: bool) -> None:
    if not queued:
        # Only rows abandoned for ABANDONED_AFTER are removed by others: running
        # this call now could repeat work already done, so it is refused.
        raise RuntimeError(f"queued call {queued_id} vanished before it was answered")


def _loaded(outcome: str | None) -> dict[str, Any] | None:
    # Django's connection reads jsonb as text (its JSONField decodes it).
    return json.loads(outcome) if outcome is not None else None


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


def _answer(
    followers: Sequence[tuple[int, Request]], outcomes: list[Any], coalesce: Coalescing
) -> None:
    if not followers:
        return
    params: list[Any] = []
    for (queued_id, _), outcome in zip(followers, outcomes, strict=True):
        params += [queued_id, to_json(_encode(outcome, coalesce))]
    values = ", ".join(["(%s::bigint, %s::jsonb)"] * len(followers))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE queued_command q SET outcome = v.outcome"
            f" FROM (VALUES {values}) AS v(id, outcome) WHERE q.id = v.id",
            params,
        )
