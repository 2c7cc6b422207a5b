"""The guarded unit of work every money-touching write runs in.

A command decorated with `@command(...)`:

1. refuses to run inside another transaction (it owns the outermost, durable
   atomic block, so two commands can never be merged by accident);
2. runs at SERIALIZABLE and takes its entity's turn (`platform_integrity.turns`)
   as its first statement: one unit of work writes an entity's rows at a time,
   and the turn orders the entity's audit hash chain. When the turn is busy the
   unit waits for it on a second connection and starts afresh once it has it,
   so its snapshot follows the previous holder's commit: hot rows do not fail
   with 40001 and retry. Every lock is transaction-scoped: nothing outlives a
   transaction, whatever ends it, and a pooler may share the connections;
3. still locks every parent row it changes through `locks.lock_rows` (fixed
   table order, ids ascending);
4. bounds every wait: the turn (`RIVANE_TURN_TIMEOUT_MS`), row locks
   (`lock_timeout`), statements (`statement_timeout`) and idle transactions;
   a unit that waited too long answers 503 `lock_timeout` with Retry-After;
5. re-runs the whole command on 40001 / 40P01 with bounded, jittered
   exponential backoff, counting each retry against the rows it was locking;
   past `RIVANE_MAX_CONFLICT_RETRIES` it raises `ConcurrencyRetryExhausted`
   (503 with Retry-After). A connection lost before COMMIT is retried the same
   way on a new one; lost during COMMIT, the outcome is unknown and the caller
   gets 503 `database_unavailable` (its idempotency key replays it);
6. on a `DomainError`, after the rollback, writes the REJECTED audit row (and
   the error's rejection event) in a transaction of its own, so the rejection
   survives while nothing of the attempt does.

A command declared with `coalesce=` takes a list of requests instead: calls for
one entity that queue behind its turn are run together, in one unit of work, by
whoever gets it (`platform_integrity.batching`). Such a command answers
each request on its own — its result or its `DomainError` — writes nothing for
a rejected one, and the unit records each rejection in the same transaction.

Side effects leave only through the outbox, so a retried attempt repeats none.
"""

from __future__ import annotations

import contextlib
import functools
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from platform_integrity import audit, bulk, contention, faults, outbox, turns
from platform_integrity.errors import (
    ConcurrencyRetryExhausted,
    DatabaseUnavailable,
    DomainError,
    LockTimeout,
    RetryLater,
)
from platform_integrity.unit import UnitOfWork, current, running

RETRYABLE_SQLSTATES = {"40001", "40P01"}
# Two units extended one audit chain: one lost its entity's turn with its waiting
# connection. Like a serialization failure, the unit runs again on the chain as it is.
CHAIN_FORK_CONSTRAINT = "audit_chain_no_fork"
# A sequential scan takes a relation-level SIRead lock, so under SERIALIZABLE it
# conflicts with every concurrent writer of that table, whichever entity it
# writes to (the PostgreSQL manual's advice: encourage index scans). Small
# tables tempt the planner into those scans; commands never need them.
# A command's statements look rows up by key, so one generic plan fits every call
# (docs/performance.md). Every setting is SET LOCAL: it ends with the transaction, as
# a connection pooler needs.
SERIALIZABLE_SETUP = (
    "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    "SELECT set_config('enable_seqscan', 'off', true),"
    " set_config('plan_cache_mode', 'force_generic_plan', true),"
    " set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true),"
    " set_config('idle_in_transaction_session_timeout', %s, true)",
)
BACKOFF_BASE_SECONDS = 0.004
BACKOFF_CAP_SECONDS = 0.25

R = TypeVar("R")


class TurnBusy(Exception):
    """Another unit of work holds the entity's turn."""


def inside_transaction() -> bool:
    """True inside any atomic block but a test case's wrapper (the rule durable=True applies)."""
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def backoff_seconds(attempt: int) -> float:
    return random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))


def is_retryable(exc: BaseException) -> bool:
    if faults.sqlstate(exc) in RETRYABLE_SQLSTATES:
        return True
    diagnostics = getattr(exc.__cause__, "diag", None)
    return getattr(diagnostics, "constraint_name", None) == CHAIN_FORK_CONSTRAINT


def run_unit(
    work: Callable[[], R],
    uow: UnitOfWork,
    kwargs: dict[str, Any],
    *,
    turn: turns.Turn | None = None,
    until: float | None = None,
    wait_for_turn: bool = True,
    before_commit: Callable[[R], None] | None = None,
    pipelined: bool = False,
) -> R:
    """Run `work()` as the unit's transaction, retried on conflicts (see the module doc).

    `turn`: the entity's turn, held already (the caller releases it). Without it the
    unit takes the turn, or waits for it until `until` — unless `wait_for_turn` is
    false, when a busy turn raises `TurnBusy` at once.

    `before_commit(result)` runs last inside the transaction. With `pipelined`,
    the whole transaction is one pipeline (`bulk.pipelined`): reads still wait
    for their rows, but writes go out as they are made, so the server executes
    them while the unit builds the next; only for work whose writes never ask
    for a row count.
    """
    until = until or turns.deadline()
    held = turn
    try:
        while True:
            uow.reset()
            try:
                with running(uow), transaction.atomic(durable=True):
                    with bulk.pipelined() if pipelined else contextlib.nullcontext():
                        _begin(take_turn=held is None, chain=uow.chain)
                        if held is not None:
                            # First of the commit hooks: what runs after COMMIT (a task
                            # sent, or run at once) may need the entity's turn.
                            transaction.on_commit(held.release)
                        result = work()
                        with bulk.pipelined():
                            if before_commit is not None:
                                before_commit(result)
                            _flush(uow)
                    uow.committing = True
                return result
            except TurnBusy:
                if not wait_for_turn:
                    raise
                held, _ = turns.wait(uow.chain, until)
            except turns.TurnLost as exc:
                if held is not None and held is not turn:
                    held.release()
                held = None
                _give_up_past_bound(uow, exc)
                uow.attempt += 1
            except DatabaseError as exc:
                _after_failure(uow, exc)
                time.sleep(backoff_seconds(uow.attempt))
                uow.attempt += 1
            except RetryLater:
                raise
            except DomainError as err:
                # In a unit of its own, on the same turn: the rejection extends the
                # entity's audit chain like any change.
                rejection = UnitOfWork(uow.name, uow.actor, uow.chain, uow.entity_id)
                run_unit(
                    functools.partial(_record_rejection, err, kwargs),
                    rejection,
                    {},
                    turn=held,
                    until=until,
                )
                raise
    finally:
        if held is not None and held is not turn:
            held.release()


def _begin(*, take_turn: bool, chain: str) -> None:
    """The transaction's first statements: isolation, bounds, and the entity's turn."""
    outside_tests = not connection.atomic_blocks[0].__dict__.get("_from_testcase")
    bounds = [
        f"{settings.RIVANE_LOCK_TIMEOUT_MS}ms",
        f"{settings.RIVANE_STATEMENT_TIMEOUT_MS}ms",
        f"{settings.RIVANE_STATEMENT_TIMEOUT_MS * 3}ms",
    ]
    with bulk.pipelined(), connection.cursor() as cursor:
        if outside_tests:
            # A test case's wrapping transaction has begun already; everywhere else
            # this is the first statement of the transaction, as it must be.
            cursor.execute(SERIALIZABLE_SETUP[0])
        cursor.execute(SERIALIZABLE_SETUP[1], bounds)
        if take_turn:
            cursor.execute(turns.TRY_TAKE, [turns.chain_key(chain)])
            if not cursor.fetchone()[0]:
                raise TurnBusy(chain)


def _after_failure(uow: UnitOfWork, exc: DatabaseError) -> None:
    """Decide on a failed attempt: return to retry it, or raise what the caller gets."""
    if is_retryable(exc):
        exhausted = uow.attempt >= settings.RIVANE_MAX_CONFLICT_RETRIES
        contention.record(uow.locking or [("command", uow.name)], exhausted=exhausted)
        if exhausted:
            raise ConcurrencyRetryExhausted(
                f"{uow.name} gave up after {uow.attempt + 1} attempts on contended rows",
                attempts=uow.attempt + 1,
                retry_after_seconds=1,
            ) from exc
        return
    if faults.sqlstate(exc) in faults.TIMEOUT_SQLSTATES:
        raise LockTimeout(
            f"{uow.name} waited too long for a record another transaction holds; nothing was done.",
            retry_after_seconds=1,
        ) from exc
    if faults.connection_lost(exc):
        connection.close()
        if uow.committing:
            raise DatabaseUnavailable(
                f"The database connection was lost while {uow.name} committed: it may or "
                "may not have been done. Send it again with the same idempotency key.",
                retry_after_seconds=1,
            ) from exc
        _give_up_past_bound(uow, exc)
        return
    raise exc


def _give_up_past_bound(uow: UnitOfWork, exc: BaseException) -> None:
    """A connection lost before COMMIT: nothing was done, so the unit runs again on a new
    one, as many times as a conflict would be retried."""
    if uow.attempt >= settings.RIVANE_MAX_CONFLICT_RETRIES:
        raise DatabaseUnavailable(
            f"The database connection was lost; {uow.name} was not done.",
            retry_after_seconds=1,
        ) from exc


def _flush(uow: UnitOfWork) -> None:
    # The rows, then the events they raised, then the audit rows last: their ids are
    # read back, so that INSERT waits for the rest.
    uow.changes.flush()
    outbox.flush(uow)
    audit.flush(uow)


def _record_rejection(err: DomainError, kwargs: dict[str, Any]) -> None:
    record_rejection(current(), err, kwargs)


def record_rejection(uow: UnitOfWork, err: DomainError, kwargs: dict[str, Any]) -> None:
    """Queue the REJECTED audit row of a request, and the error's rejection event."""

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
