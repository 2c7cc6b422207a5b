"""An entity's turn: one unit of work at a time writes an entity's rows.

The turn is a transaction-scoped advisory lock on the entity's chain key, so it
ends with the transaction that holds it — commit, rollback, a cancel or a killed
connection alike — and a connection pooler in transaction mode may hand the
connection to anyone afterwards. Nothing is held between statements of a
session.

A unit of work first tries to take the turn in its own SERIALIZABLE transaction
(`TRY_TAKE`, the fast path: an idle entity costs no extra round trip). When the
turn is busy it must not simply wait there: its snapshot would predate the
holder's commit and its first row lock would fail with 40001. So it waits on a
second connection of its own (`wait`), in line, in a short READ COMMITTED
transaction that takes the turn when its turn comes (`rivane_wait_turn`, migration
0011) and keeps it while the unit runs in a fresh transaction on the main
connection; committing that one, the unit lets the turn go (`Turn.release`).

A queued call (`platform_integrity.batching`) waits the same way, holding its
call's own lock so a leader knows it is still waited for; when a leader answers
it, the wait returns the outcome instead.
"""

from __future__ import annotations

import hashlib
import os
import select
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection

from platform_integrity.db import libpq_dsn
from platform_integrity.errors import DatabaseUnavailable, LockTimeout

TRY_TAKE = "SELECT pg_try_advisory_xact_lock(%s)"
# A call waits at most RIVANE_TURN_TIMEOUT_MS; a leader leaves older rows alone.
QUEUED_FRESH_FOR = "10 seconds"


def chain_key(chain: str) -> int:
    """The advisory-lock key of a chain: the first 8 bytes of its SHA-256, signed.

    `rivane_chain_key` (migration 0007) computes the same key inside PostgreSQL.
    """
    return int.from_bytes(hashlib.sha256(chain.encode()).digest()[:8], "big", signed=True)


def deadline() -> float:
    """When a unit of work that has not got its turn by then gives up (monotonic clock)."""
    return time.monotonic() + settings.RIVANE_TURN_TIMEOUT_MS / 1000


def timed_out(what: str) -> LockTimeout:
    return LockTimeout(f"{what} waited too long for its entity; try again.", retry_after_seconds=1)


class TurnLost(Exception):
    """The waiting connection died: a turn it held is gone, and the unit starts over."""


@dataclass
class QueuedCall:
    """A call written to `queued_command` for the holder of the turn to answer."""

    id: int
    chain: str
    command: str
    user_id: Any
    channel: str
    ip: str | None
    arguments: str  # JSON


@dataclass
class Turn:
    """The turn, held by the waiting connection's open transaction until `release`."""

    conn: psycopg.Connection
    released: bool = False

    def execute(self, sql: str, params: list[Any]) -> list[tuple]:
        """A statement in the transaction that holds the turn (it sees what has committed)."""
        try:
            return self.conn.execute(sql, params).fetchall()
        except psycopg.Error as exc:
            _discard(self.conn)
            raise TurnLost() from exc

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        try:
            self.conn.execute("COMMIT")
        except psycopg.Error:
            # Its transaction, and the turn, ended with the connection.
            _discard(self.conn)


_local = threading.local()


def _connection() -> psycopg.Connection:
    """This thread's waiting connection (a forked process opens its own, and one the
    server ended while it sat idle is replaced before it is used)."""
    conn = getattr(_local, "conn", None)
    if conn is not None and not conn.closed and _ended_while_idle(conn):
        _discard(conn)
        conn = None
    if conn is None or conn.closed or _local.pid != os.getpid():
        conn = psycopg.connect(
            libpq_dsn(connection.settings_dict), autocommit=True, prepare_threshold=None
        )
        _local.conn, _local.pid = conn, os.getpid()
    return conn


def _ended_while_idle(conn: psycopg.Connection) -> bool:
    """An idle connection has nothing to read; the server's farewell (a restart, an
    administrator's terminate) is there to read at once."""
    readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    return bool(readable)


def close() -> None:
    """Close this thread's waiting connection, if it has one."""
    conn = getattr(_local, "conn", None)
    if conn is not None:
        _discard(conn)


def _discard(conn: psycopg.Connection) -> None:
    conn.close()
    if getattr(_local, "conn", None) is conn:
        _local.conn = None


def _unavailable() -> DatabaseUnavailable:
    return DatabaseUnavailable(
        "The database connection was lost while waiting for the entity; nothing was done.",
        retry_after_seconds=1,
    )


def _timeouts(remaining_ms: int) -> list[Any]:
    idle = settings.RIVANE_STATEMENT_TIMEOUT_MS * 3
    return [f"{remaining_ms}ms", f"{remaining_ms + 1000}ms", f"{idle}ms"]


SET_TIMEOUTS = (
    "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true),"
    " set_config('idle_in_transaction_session_timeout', %s, true)"
)
CALL_LOCK = "SELECT pg_advisory_xact_lock(rivane_chain_key('call:' || %s))"
QUEUE = (
    "INSERT INTO queued_command (id, chain, command, user_id, channel, ip, arguments,"
    " enqueued_at) VALUES (%s, %s, %s, %s, %s, %s::inet, %s::jsonb, now())"
)


def wait(chain: str, until: float, call: QueuedCall | None = None) -> tuple[Turn | None, Any]:
    """Wait for the chain's turn: (the turn, None) once it is ours, or (None, outcome)
    when a leader answered `call` meanwhile. Past `until`, `LockTimeout`."""
    remaining_ms = int((until - time.monotonic()) * 1000)
    if remaining_ms <= 0:
        raise timed_out("This request")
    conn = _connection()
    try:
        with conn.pipeline() as pipeline:
            if call is not None:
                conn.execute(
                    QUEUE,
                    [
                        call.id,
                        call.chain,
                        call.command,
                        call.user_id,
                        call.channel,
                        call.ip,
                        call.arguments,
                    ],
                )
                pipeline.sync()  # committed: a leader can read it
            conn.execute("BEGIN")
            conn.execute(SET_TIMEOUTS, _timeouts(remaining_ms))
            if call is not None:
                # Held while we wait: a leader runs only calls whose caller still waits.
                conn.execute(CALL_LOCK, [call.id])
            cursor = conn.execute(
                "SELECT outcome, leads FROM rivane_wait_turn(%s, %s)",
                [chain_key(chain), call.id if call else None],
            )
        outcome, leads = cursor.fetchone()
    except psycopg.Error as exc:
        return None, _gave_up(conn, call, exc)
    if leads:
        return Turn(conn), None
    conn.execute("COMMIT")
    return None, outcome


def _gave_up(conn: psycopg.Connection, call: QueuedCall | None, exc: psycopg.Error) -> Any:
    """After a failed wait: the call's outcome if a leader ran it after all, else raise."""
    broken = conn.closed or conn.pgconn.status != psycopg.pq.ConnStatus.OK
    if broken:
        _discard(conn)
    else:
        conn.rollback()
    if call is not None:
        # Withdraw the call. A leader that took it holds its row: then this waits for that
        # leader's commit and finds the outcome.
        retry = _connection()
        try:
            with retry.transaction():
                retry.execute(SET_TIMEOUTS, _timeouts(settings.RIVANE_STATEMENT_TIMEOUT_MS))
                answered = retry.execute(
                    "DELETE FROM queued_command WHERE id = %s RETURNING outcome", [call.id]
                ).fetchone()
        except psycopg.Error as again:
            _discard(retry)
            raise _unavailable() from again
        if answered and answered[0] is not None:
            return answered[0]
    if broken:
        raise _unavailable() from exc
    raise timed_out("This request") from exc


def queued_calls(chain: str, commands: list[str], how_many: int, turn: Turn | None) -> list:
    """The calls a leader of `chain` answers with its own (see `rivane_queued_calls`); rows
    of calls long abandoned go."""
    sql = (
        "WITH abandoned AS (DELETE FROM queued_command WHERE chain = %s"
        " AND enqueued_at < now() - interval '1 minute')"
        f" SELECT * FROM rivane_queued_calls(%s, %s, interval '{QUEUED_FRESH_FOR}', %s)"
    )
    params = [chain, chain, commands, how_many]
    if turn is not None:
        return turn.execute(sql, params)
    conn = _connection()
    try:
        return conn.execute(sql, params).fetchall()
    except psycopg.Error as exc:
        _discard(conn)
        raise TurnLost() from exc
