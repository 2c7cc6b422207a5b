"""The unit of work running now: who acts, on which chain, and what it will write.

Set only inside the unit's transaction (`platform_integrity.unit_of_work`); the
writers every command shares (the changeset, audit, outbox, idempotency, locks)
find it here, and nothing here knows how a unit is run.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from platform_integrity.changeset import Changeset
from platform_integrity.context import Actor


@dataclass
class UnitOfWork:
    name: str
    actor: Actor
    chain: str
    entity_id: UUID | None
    attempt: int = 0
    locking: list[tuple[str, str]] = field(default_factory=list)
    lock_rank: int = -1
    # Written together just before COMMIT: the rows, then the events, then the audit.
    changes: Changeset = field(default_factory=Changeset)
    audit_rows: list = field(default_factory=list)
    events: list = field(default_factory=list)
    audit_head: str | None = None
    audit_head_stored: bool = False
    # The read of the head, sent and not yet read (`audit.send_head`): a cursor.
    audit_head_read: Any = None
    # Set once the work is done and COMMIT is all that is left.
    committing: bool = False

    def reset(self) -> None:
        """Forget everything a failed attempt gathered."""
        self.locking, self.lock_rank = [], -1
        self.changes = Changeset()
        self.audit_rows, self.events, self.audit_head = [], [], None
        self.audit_head_read = None
        self.committing = False

    @contextlib.contextmanager
    def acting_as(self, actor: Actor, command: str | None = None) -> Iterator[None]:
        """Audit rows recorded inside are one batched request's: its actor, and its
        command when a batch answers calls of several (`Batching.queue`)."""
        previous = self.actor, self.name
        self.actor, self.name = actor, command or self.name
        try:
            yield
        finally:
            self.actor, self.name = previous

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        """One request of a batch: if it raises, nothing it gathered is written."""
        marks = len(self.audit_rows), len(self.events), self.changes.mark()
        try:
            yield
        except BaseException:
            audit_rows, events, changes = marks
            del self.audit_rows[audit_rows:], self.events[events:]
            self.changes.rewind(changes)
            raise


@dataclass(frozen=True)
class Request:
    """One call of a batched command: who asked, and with which arguments."""

    actor: Actor
    kwargs: dict[str, Any]


_current: contextvars.ContextVar[UnitOfWork | None] = contextvars.ContextVar(
    "unit_of_work", default=None
)


def current() -> UnitOfWork:
    """The unit of work running now."""
    uow = _current.get()
    if uow is None:
        raise RuntimeError("This write must run inside a @command unit of work")
    return uow


@contextlib.contextmanager
def running(uow: UnitOfWork) -> Iterator[UnitOfWork]:
    token = _current.set(uow)
    try:
        yield uow
    finally:
        _current.reset(token)


def chain_for(entity_id: UUID | None) -> str:
    return f"entity:{entity_id}" if entity_id else "global"
