"""Domain errors: each carries its problem code, HTTP status, title and extra fields.

The API's exception handler turns them into RFC 9457 problem details and the
screens show their `detail` on the page; no view builds an error by hand.
"""

from typing import Any, ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "domain_error"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Request rejected"
    # Outbox event written with the rejection's audit row, after the rollback.
    rejection_event: ClassVar[str | None] = None

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    @property
    def headers(self) -> dict[str, str]:
        return {}


class NotFound(DomainError):
    code = "not_found"
    status = 404
    title = "Not found"


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403
    title = "Not allowed"


class ValidationFailed(DomainError):
    code = "validation_error"
    status = 422
    title = "Invalid request"


class InvalidQuery(DomainError):
    code = "validation_error"
    status = 400
    title = "Invalid query parameters"


class Conflict(DomainError):
    code = "conflict"
    status = 409
    title = "Conflict"


class OptimisticLockConflict(Conflict):
    code = "optimistic_lock_conflict"
    title = "Stale version"


class IdempotencyKeyReused(DomainError):
    code = "idempotency.key_reused"
    status = 422
    title = "Idempotency key reused with a different request"


class RetryLater(DomainError):
    """Nothing was done, or an idempotency key replays it: the caller may send it again."""

    status = 503

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.extra.get("retry_after_seconds", 1))}


class ConcurrencyRetryExhausted(RetryLater):
    code = "concurrency_retry_exhausted"
    title = "Too much contention, try again"


class LockTimeout(RetryLater):
    code = "lock_timeout"
    title = "A record is held by another transaction, try again"


class DatabaseUnavailable(RetryLater):
    code = "database_unavailable"
    title = "The database connection was lost, try again"


class NestedUnitOfWork(RuntimeError):
    """A money command was called inside another transaction: refused, never merged."""
