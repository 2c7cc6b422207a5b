"""Batched commands: the calls queued behind an entity's turn run as one unit of work.

Writers of one entity take turns (`platform_integrity.turns`), so a hot entity
moves one unit of work at a time, and most of a small unit's cost is fixed:
BEGIN, the turn, one statement per table changed, the audit head, COMMIT and its
WAL flush. So the caller that gets the turn takes every call of the same command
queued behind it and answers them together: one SERIALIZABLE transaction, one
changeset, one commit. Nothing is relaxed: the batch is a guarded unit of work,
every parent row is locked in lock order before it changes, each request is
checked against the state the ones before it left, and each gets its own answer,
audit row and events. Under no contention nothing is queued.

A batched command is written for one request, `fn(actor, **kwargs, batch=...)`,
and declares a `Batching`: its `prepare(requests)` reads and locks, for all the
requests at once, what they will need (sent together: one round trip), and the
loop below (written once, here) runs `fn` for each request with that state, each
in `UnitOfWork.request()` so a refused request leaves nothing behind.

A caller of a batched command:

1. tries to take the turn in its own transaction; with it, it leads at once;
2. else it queues its call in `queued_command` (committed at once; the table is
   UNLOGGED) and waits in line for the turn on its waiting connection, holding
   its call's lock while it waits (`turns.wait`). Whoever leads meanwhile runs the
   calls of callers still waiting and writes each answer in the transaction that
   did the work: the wait returns it. A caller that died, gave up or was
   cancelled holds no lock, so its call is never run for it;
3. not answered when its turn comes, it leads: it reads the calls queued behind
   it for its command — or for any command of its queue (`Batching.queue`) — up
   to `max_batch`, locks their rows (so a caller giving up meanwhile waits for the
   answer instead) and answers them all, each by its own command, before COMMIT.

A batch that fails other than by conflict (conflicts are retried whole) answers
no one: its leader runs its own call alone, and every other caller leads its
own turn, so one bad call fails only itself.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, models
from django.utils.module_loading import import_string

from platform_integrity import permissions, reads, turns, wire
from platform_integrity.context import Actor
from platform_integrity.errors import DomainError, RetryLater
from platform_integrity.ids import as_uuid, entity_id_of
from platform_integrity.unit import Request, UnitOfWork, chain_for, current
from platform_integrity.unit_of_work import TurnBusy, record_rejection, run_unit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Batching:
    """How a command runs for many requests at once.

    `prepare(requests)` returns what each request's call gets as `batch`: the rows
    the batch reads and locks, read together.
    """

    prepare: Callable[[list[Request]], Any]
    # The table of the first row the command locks: a batch of several commands runs
    # them in the lock order of settings.RIVANE_LOCK_ORDER.
    first_lock: str
    # (model, argument): the call writes to the entity of the `model` row whose id is
    # that argument; without it, the command's `entity_of` names the entity.
    entity_row: tuple[type[models.Model], str] | None = None
    max_batch: int = 64
    # Commands that name the same queue share it: whoever leads answers the queued
    # calls of all of them in its one unit of work, each by its own command. So a
    # caller's two steps in a row (a journal entry's create, then its submit) do not
    # each wait for a turn of their own.
    queue: str | None = None


class BatchFailed(RuntimeError):
    """A batch raised for all of its requests; each is retried alone."""


# command name -> (its per-request function, its Batching), for every batched command.
_COMMANDS: dict[str, tuple[Callable[..., Any], Batching]] = {}


def register(name: str, fn: Callable[..., Any], batching: Batching) -> None:
    _COMMANDS[name] = (fn, batching)


def run_batch(name: str, requests: list[Request]) -> list[Any]:
    """Answer each request of one command: its result or its `DomainError`."""
    fn, batching = _COMMANDS[name]
    uow = current()
    prepared = batching.prepare(requests)
    outcomes: list[Any] = []
    for request in requests:
        with uow.acting_as(request.actor):
            try:
                with uow.request():
                    outcomes.append(fn(request.actor, **request.kwargs, batch=prepared))
            except DomainError as err:
                outcomes.append(err)
    return outcomes


def _queue_of(name: str) -> list[str]:
    """The commands whose queued calls a leader of `name` answers."""
    queue = _COMMANDS[name][1].queue
    if queue is None:
        return [name]
    return [n for n, (_, b) in _COMMANDS.items() if b.queue == queue]


def call(name: str, request: Request, entity_of: Callable[..., UUID | None] | None) -> Any:
    """Run one call of a batched command, leading a batch or answered by one."""
    batching = _COMMANDS[name][1]
    if batching.entity_row:
        model, argument = batching.entity_row
        entity_id = entity_id_of(model, request.kwargs.get(argument))
    else:
        entity_id = as_uuid(entity_of(**request.kwargs) if entity_of else None)
    chain = chain_for(entity_id)
    until = turns.deadline()
    turn = None
    try:
        while True:
            try:
                return _lead(name, request, entity_id, turn, until)
            except TurnBusy:
                turn, outcome = turns.wait(chain, until, _queued(name, request, chain))
                if turn is None:
                    return _settle(_decode(outcome))
    finally:
        if turn is not None:
            turn.release()


def _queued(name: str, request: Request, chain: str) -> turns.QueuedCall:
    actor = request.actor
    return turns.QueuedCall(
        id=random.getrandbits(63),
        chain=chain,
        command=name,
        user_id=actor.user.pk if actor.user is not None else None,
        channel=actor.channel,
        ip=actor.ip,
        arguments=wire.dumps(request.kwargs),
    )


def _lead(
    name: str,
    own: Request,
    entity_id: UUID | None,
    turn: turns.Turn | None,
    until: float,
    *,
    alone: bool = False,
) -> Any:
    """Run our call, with the calls queued behind it unless `alone`; raises `TurnBusy`
    when we hold no turn and it is taken."""
    uow = UnitOfWork(name, own.actor, chain_for(entity_id), entity_id)
    followers: list[tuple[int, str, Request]] = []

    def work() -> list[Any]:
        followers[:] = [] if alone else _take_calls(uow.chain, name, turn)
        calls = [(name, own), *((command, request) for _, command, request in followers)]
        outcomes: list[Any] = [None] * len(calls)
        # Each command answers its calls in one go, in lock order, the leader's first
        # among equals (the calls are independent: none can name a row another makes).
        order = settings.RIVANE_LOCK_ORDER
        commands = sorted(
            dict.fromkeys(command for command, _ in calls),
            key=lambda command: order.index(_COMMANDS[command][1].first_lock),
        )
        for command in commands:
            mine = [i for i, (c, _) in enumerate(calls) if c == command]
            with uow.acting_as(own.actor, command):
                try:
                    answered = run_batch(command, [calls[i][1] for i in mine])
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
            work,
            uow,
            own.kwargs,
            turn=turn,
            until=until,
            wait_for_turn=False,
            before_commit=answer,
            pipelined=True,
        )
    except (TurnBusy, RetryLater):
        raise
    except Exception:
        if not followers:
            raise
        logger.exception(
            "%s: a batch of %d calls failed; the leader's runs alone", name, len(followers) + 1
        )
        return _lead(name, own, entity_id, turn, until, alone=True)
    return _settle(outcomes[0])


def _take_calls(chain: str, name: str, turn: turns.Turn | None) -> list[tuple[int, str, Request]]:
    """The calls to lead with ours: the fresh calls of callers still waiting for them,
    oldest first, each with its command and its caller's user, their rows locked."""
    batching = _COMMANDS[name][1]
    waiting = turns.queued_calls(chain, _queue_of(name), batching.max_batch - 1, turn)
    if not waiting:
        return []
    user_model = get_user_model()
    quote = connection.ops.quote_name
    user_table, user_key = quote(user_model._meta.db_table), quote(user_model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT q.id, {reads.columns(user_model, "u")},
                   {permissions.permission_names(f"u.{user_key}")}
              FROM queued_command q LEFT JOIN {user_table} u ON u.{user_key} = q.user_id
             WHERE q.id = ANY(%s) AND q.outcome IS NULL
               FOR UPDATE OF q
            """,
            [[queued for queued, *_ in waiting]],
        )
        claimed = {row[0]: row for row in cursor.fetchall()}
    users: dict[Any, Any] = {}
    taken = []
    for queued, command, user_id, channel, ip, arguments in waiting:
        if queued not in claimed:
            continue
        if user_id not in users:  # a user's calls come in a run: its instance is made once
            user = reads.from_columns(user_model, claimed[queued][1:-1])
            if user is not None:
                user._perm_cache = set(claimed[queued][-1])  # the commands check each caller
            users[user_id] = user
        actor = Actor(users[user_id], channel, str(ip) if ip is not None else None)
        taken.append((queued, command, Request(actor, wire.loads(arguments))))
    return taken


def _settle(outcome: Any) -> Any:
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def _encode(outcome: Any) -> str:
    if isinstance(outcome, DomainError):
        kind = type(outcome)
        return wire.dumps(
            {
                "error": f"{kind.__module__}.{kind.__qualname__}",
                "detail": outcome.detail,
                "extra": outcome.extra,
            }
        )
    return wire.dumps({"result": outcome})


def _decode(outcome: Any) -> Any:
    answer = wire.loads(outcome)
    if "error" in answer:
        return import_string(answer["error"])(answer["detail"], **answer["extra"])
    return answer["result"]


def _answer(followers: Sequence[tuple[int, str, Request]], outcomes: list[Any]) -> None:
    if not followers:
        return
    params: list[Any] = []
    for (queued_id, _, _), outcome in zip(followers, outcomes, strict=True):
        params += [queued_id, _encode(outcome)]
    values = ", ".join(["(%s::bigint, %s::jsonb)"] * len(followers))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE queued_command q SET outcome = v.outcome"
            f" FROM (VALUES {values}) AS v(id, outcome) WHERE q.id = v.id",
            params,
        )
