"""Database faults a caller may retry: a wait that hit its bound, a connection that died.

The unit of work retries what it safely can; what reaches a door is answered 503 with
Retry-After (`RetryLater`), never 500, so a client knows a retry is safe: nothing was
done, or the request's idempotency key replays it.
"""

import psycopg
from django.db import DatabaseError, InterfaceError, OperationalError, connection

from platform_integrity.errors import DatabaseUnavailable, LockTimeout, RetryLater

# A row lock past lock_timeout, a statement past statement_timeout, a cancel.
TIMEOUT_SQLSTATES = {"55P03", "57014"}
# The server ended the connection: shut down, restarted, terminated by an administrator.
ENDED_SQLSTATES = {"57P01", "57P02", "57P03"}
CONNECTION_ERRORS = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error, as Django raises it (psycopg's is its cause)."""
    return getattr(exc, "sqlstate", None) or getattr(exc.__cause__, "sqlstate", None)


def connection_lost(exc: BaseException) -> bool:
    """The error ended the connection (killed, shut down, network gone)."""
    state = sqlstate(exc)
    if state is None and isinstance(exc, CONNECTION_ERRORS):
        return True  # libpq's own: "server closed the connection unexpectedly", ...
    if state and (state.startswith("08") or state in ENDED_SQLSTATES):
        return True
    conn = connection.connection
    return conn is None or conn.closed or conn.pgconn.status != psycopg.pq.ConnStatus.OK


def retry_later(exc: BaseException) -> RetryLater | None:
    """The 503 a database error means for the caller, or None for any other error."""
    if not isinstance(exc, psycopg.Error | DatabaseError):
        return None
    if sqlstate(exc) in TIMEOUT_SQLSTATES:
        return LockTimeout(
            "A record this request needs is held by another transaction; nothing was done.",
            retry_after_seconds=1,
        )
    if connection_lost(exc):
        connection.close()
        return DatabaseUnavailable(
            "The database connection was lost; send the request again (with the same "
            "idempotency key, a create is not repeated).",
            retry_after_seconds=1,
        )
    return None
