"""The guarded unit of work every money-touching write runs in.

A command decorated with `@command(...)`:

1. refuses to run inside another transaction (it owns the outermost, durable
   atomic block, so two commands can never be merged by accident);
2. takes a session-level advisory lock on its chain key (the entity it writes
   to) *before* BEGIN. Writers of one entity's hot rows therefore queue before
   their snapshot is taken: each one starts after the previous one committed,
   so the SERIALIZABLE transaction that follows sees fresh rows instead of
   failing with 40001 and retrying — that retry storm is what makes the naive
   "SERIALIZABLE + SELECT FOR UPDATE" design collapse at 16+ writers. The same
   lock orders the entity's audit hash chain. A shared gate beside it lets a
   unit that did conflict retry alone (see `Serialization`);
3. runs the command at SERIALIZABLE, where it still locks every parent row it
   changes through `locks.lock_rows` (fixed table order, ids ascending);
4. re-runs the whole command on 40001 / 40P01 with bounded, jittered
   exponential backoff, counting each retry against the rows it was locking;
   past `RIVANE_MAX_CONFLICT_RETRIES` it raises `ConcurrencyRetryExhausted`
   (503 with Retry-After);
5. on a `DomainError`, after the rollback, writes the REJECTED audit row (and
   the error's rejection event) in a transaction of its own, so the rejection
   survives while nothing of the attempt does.

A command declared with `coalesce=` takes a list of requests instead: calls for
one entity that queue behind its lock are run together, in one unit of work, by
whoever holds the lock (`platform_integrity.coalescing`). Such a command answers
each request on its own — its result or its `DomainError` — writes nothing for
a rejected one, and the unit records each rejection in the same transaction.

Side effects leave only through the outbox, so a retried attempt repeats none.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from django.conf import settings
from django.db import DatabaseError, OperationalError, connection, transaction

from platform_integrity import bulk, contention
from platform_integrity.context import Actor
from platform_integrity.errors import ConcurrencyRetryExhausted, DomainError, NestedUnitOfWork

RETRYABLE_SQLSTATES = {"40001", "40P01"}
# A sequential scan takes a relation-level SIRead lock, so under SERIALIZABLE it
# conflicts with every concurrent writer of that table, whichever entity it
# writes to (the PostgreSQL manual's advice: encourage index scans). Small
# tables tempt the planner into those scans; commands never need them.
# A command's statements are prepared (settings: `prepare_threshold`) and look rows
# up by key, so one plan fits every call: planning each call anew (PostgreSQL's
# default for prepared statements whose estimates vary with the parameters) was
# about a tenth of a coalesced batch.
SERIALIZABLE_SETUP = (
    "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    "SET LOCAL enable_seqscan = off",
    "SET LOCAL plan_cache_mode = force_generic_plan",
)
BACKOFF_BASE_SECONDS = 0.004
BACKOFF_CAP_SECONDS = 0.25

R = TypeVar("R")


@dataclass
class UnitOfWork:
    name: str
    actor: Actor
    chain: str
    entity_id: UUID | None
    attempt: int = 0
    locking: list[tuple[str, str]] = field(default_factory=list)
    lock_rank: int = -1
    # Written together just before commit (see `_flush`): one INSERT each.
    audit_rows: list = field(default_factory=list)
    events: list = field(default_factory=list)
    audit_head: str | None = None
    audit_head_stored: bool = False
    # The read of the head, sent and not yet read (`audit.send_head`): a cursor.
    audit_head_read: Any = None

    def reset(self) -> None:
        """Forget everything a failed attempt gathered."""
        self.locking, self.lock_rank = [], -1
        self.audit_rows, self.events, self.audit_head = [], [], None
        self.audit_head_read = None

    @contextlib.contextmanager
    def acting_as(self, actor: Actor, command: str | None = None) -> Iterator[None]:
        """Audit rows recorded inside are one coalesced request's: its actor, and its
        command when a batch answers calls of several (`Coalescing.queue`)."""
        previous = self.actor, self.name
        self.actor, self.name = actor, command or self.name
        try:
            yield
        finally:
            self.actor, self.name = previous


@dataclass(frozen=True)
class Request:
    """One call of a coalescing command: who asked, and with which arguments."""

    actor: Actor
    kwargs: dict[str, Any]


_current: contextvars.ContextVar[UnitOfWork | None] = contextvars.ContextVar(
    "unit_of_work", default=None
)


def current() -> UnitOfWork:
    """The unit of work running now: it is set only inside its transaction (`run_unit`)."""
    uow = _current.get()
    if uow is None:
        raise RuntimeError("This write must run inside a @command unit of work")
    return uow


def chain_for(entity_id: UUID | None) -> str:
    return f"entity:{entity_id}" if entity_id else "global"


def advisory_key(chain: str) -> int:
    """The advisory-lock key of a chain: the first 8 bytes of its SHA-256, signed.

    `rivane_chain_key` (migration 0007) computes the same key inside PostgreSQL.
    """
    return int.from_bytes(hashlib.sha256(chain.encode()).digest()[:8], "big", signed=True)


GATE_KEY = advisory_key("rivane:money-writes")


class Serialization:
    """The advisory locks around one unit of work, taken in autocommit before BEGIN.

    - The entity's lock, exclusive: one writer of an entity's rows at a time, each
      starting after the previous one committed (no 40001 storms on hot rows).
    - The money-writes gate, shared by every unit of work. Units of different
      entities run side by side, but SSI tracks reads per index page, so on small
      shared indexes (the ledger triggers', foreign-key checks') they can fail each
      other with false 40001s. A unit that hit one `escalate`s: it trades its shared
      hold for the exclusive one, so its next attempt runs while no other money
      write does and cannot fail that way again — optimistic first, pessimistic on
      conflict, and the retry bound is reached only by real, external contention.

    Order: the entity lock first, then the gate. A unit waiting for an entity holds
    no gate, so an escalating unit (which holds its entity) never waits on it.
    """

    def __init__(self, chain: str) -> None:
        self.entity_key = advisory_key(chain)
        self.exclusive = False

    def acquire(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [self.entity_key])
            cursor.execute("SELECT pg_advisory_lock_shared(%s)", [GATE_KEY])

    def escalate(self) -> None:
        if self.exclusive:
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock_shared(%s)", [GATE_KEY])
            cursor.execute("SELECT pg_advisory_lock(%s)", [GATE_KEY])
        self.exclusive = True

    def release(self) -> None:
        gate_unlock = "pg_advisory_unlock" if self.exclusive else "pg_advisory_unlock_shared"
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {gate_unlock}(%s), pg_advisory_unlock(%s)", [GATE_KEY, self.entity_key]
                )
        except DatabaseError:
            # A dead connection has released its locks already; start afresh.
            connection.close()

    def __enter__(self) -> Serialization:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


@dataclass(frozen=True)
class Coalescing:
    """How a coalescing command's answers reach callers waiting in other processes.

    `dump(result)` is the JSON-ready form written in the leader's transaction;
    `load(data)` turns it back into the result the caller gets. A queued call's
    arguments travel as JSON too: `restore(kwargs)` gives them back their types.
    """

    dump: Callable[[Any], dict[str, Any]]
    load: Callable[[dict[str, Any]], Any]
    restore: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # (model, argument): the call writes to the entity of the `model` row whose id
    # is that argument. Looked up in the statement that tries the lock, it saves
    # every caller of a busy entity a round trip; without it, `entity_of` is used.
    entity_row: tuple[type, str] | None = None
    max_batch: int = 64
    # Commands that name the same queue share it: whoever leads answers the queued
    # calls of all of them in its one unit of work, each by its own command. So a
    # caller's two steps in a row (a journal entry's create, then its submit) do not
    # each wait for a turn of their own.
    queue: str | None = None
    # Where in the lock order (`platform_integrity.locks.LOCK_ORDER`) the first row the
    # command locks comes: a batch of several commands runs the lowest first, so that
    # the unit still takes its locks in order.
    first_lock: str = "journal_entry"


def _inside_transaction() -> bool:
    """True inside any atomic block but a test case's wrapper (the rule durable=True applies)."""
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def backoff_seconds(attempt: int) -> float:
    return random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))


def is_retryable(exc: BaseException) -> bool:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) in RETRYABLE_SQLSTATES


def command(
    name: str,
    *,
    entity_of: Callable[..., UUID | None] | None = None,
    coalesce: Coalescing | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Make `fn(actor, **kwargs)` a guarded unit of work named `name`.

    `entity_of(**kwargs)` names the entity the command writes to (read before
    the transaction, so it must be cheap); it picks the advisory lock and the
    audit chain. A command that writes to no entity uses the global chain.

    With `coalesce`, `fn(requests)` answers a list of `Request`s (see the module
    docstring) and callers still call `command(actor, **kwargs)`.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if coalesce is not None:
            from platform_integrity import coalescing

            coalescing.register(name, fn, coalesce)

        @functools.wraps(fn)
        def run(actor: Actor, /, **kwargs: Any) -> Any:
            if _inside_transaction():
                raise NestedUnitOfWork(f"{name} must be the outermost transaction")
            if coalesce is not None:
                from platform_integrity import coalescing

                return coalescing.call(name, coalesce, Request(actor, kwargs), entity_of)
            entity_id = entity_of(**kwargs) if entity_of else None
            chain = chain_for(entity_id)
            with Serialization(chain) as serialization:
                uow = UnitOfWork(name, actor, chain, entity_id)
                return run_unit(lambda: fn(actor, **kwargs), uow, serialization, kwargs)

        run.command_name = name  # type: ignore[attr-defined]
        return run  # type: ignore[return-value]

    return decorate


def run_unit(
    work: Callable[[], R],
    uow: UnitOfWork,
    serialization: Serialization,
    kwargs: dict[str, Any],
    *,
    before_commit: Callable[[R], None] | None = None,
    pipelined: bool = False,
) -> R:
    """Run `work()` as the unit's transaction, retried on conflicts (see the module doc).

    `before_commit(result)` runs last inside the transaction. With `pipelined`,
    the whole transaction is one pipeline (`bulk.pipelined`): reads still wait
    for their rows, but writes go out as they are made, so the server executes
    them while the unit builds the next; only for work whose writes never ask
    for a row count.
    """
    max_retries = settings.RIVANE_MAX_CONFLICT_RETRIES
    while True:
        uow.reset()
        token = _current.set(uow)
        try:
            with (
                transaction.atomic(durable=True),
                bulk.pipelined() if pipelined else contextlib.nullcontext(),
            ):
                if not connection.atomic_blocks[0].__dict__.get("_from_testcase"):
                    # A test case's wrapping transaction has begun already; everywhere
                    # else this is the first statement of the transaction, as it must be;
                    # pipelined, it travels with the BEGIN in one round trip.
                    with bulk.pipelined(), connection.cursor() as cursor:
                        for statement in SERIALIZABLE_SETUP:
                            cursor.execute(statement)
                result = work()
                with bulk.pipelined():
                    if before_commit is not None:
                        before_commit(result)
                    _flush(uow)
            return result
        except OperationalError as exc:
            if not is_retryable(exc):
                raise
            exhausted = uow.attempt >= max_retries
            contention.record(uow.locking or [("command", uow.name)], exhausted=exhausted)
            if exhausted:
                raise ConcurrencyRetryExhausted(
                    f"{uow.name} gave up after {uow.attempt + 1} attempts on contended rows",
                    attempts=uow.attempt + 1,
                    retry_after_seconds=1,
                ) from exc
            time.sleep(backoff_seconds(uow.attempt))
            serialization.escalate()
            uow.attempt += 1
        except DomainError as err:
            _record_rejection(uow, err, kwargs)
            raise
        finally:
            _current.reset(token)


def _flush(uow: UnitOfWork) -> None:
    from platform_integrity import audit, outbox

    # The audit rows last: their ids are read back, so that INSERT waits for the rest.
    outbox.flush(uow)
    audit.flush(uow)


def record_rejection(uow: UnitOfWork, err: DomainError, kwargs: dict[str, Any]) -> None:
    """Queue the REJECTED audit row of a request, and the error's rejection event."""
    from platform_integrity import audit, outbox

    payload = {"request": kwargs, "detail": err.detail, **err.extra}
    row = audit.record(
        action=uow.name,
        object_type=err.extra.get("object_type", ""),
        object_id=str(err.extra.get("object_id", "")),
        outcome="REJECTED",
        reason_code=err.code,
        payload=payload,
    )
    if err.rejection_event:
        audit.flush(uow)  # the event names the audit row by its id
        outbox.emit(err.rejection_event, {**payload, "audit_event_id": row["id"]})


def _record_rejection(uow: UnitOfWork, err: DomainError, kwargs: dict[str, Any]) -> None:
    uow.reset()
    token = _current.set(uow)
    try:
        with transaction.atomic(durable=True):
            record_rejection(uow, err, kwargs)
            _flush(uow)
    finally:
        _current.reset(token)
