"""`@command`: a function made a guarded unit of work, the one way money is written."""

import functools
from collections.abc import Callable
from typing import Any
from uuid import UUID

from platform_integrity import batching
from platform_integrity.context import Actor
from platform_integrity.errors import NestedUnitOfWork
from platform_integrity.unit import Request, UnitOfWork, chain_for
from platform_integrity.unit_of_work import inside_transaction, run_unit


def command(
    name: str,
    *,
    entity_of: Callable[..., UUID | None] | None = None,
    batch: batching.Batching | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Make `fn(actor, **kwargs)` a guarded unit of work named `name`.

    `entity_of(**kwargs)` names the entity the command writes to (read before the
    transaction, so it must be cheap); it picks the turn and the audit chain. A
    command that writes to no entity uses the global chain.

    With `batch`, calls that queue behind the entity's turn run together
    (`platform_integrity.batching`): `fn` is still written for one request and gets
    the batch's prepared reads as `batch`; callers call `command(actor, **kwargs)`.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if batch is not None:
            batching.register(name, fn, batch)

        @functools.wraps(fn)
        def run(actor: Actor, /, **kwargs: Any) -> Any:
            if inside_transaction():
                raise NestedUnitOfWork(f"{name} must be the outermost transaction")
            if batch is not None:
                return batching.call(name, Request(actor, kwargs), entity_of)
            entity_id = entity_of(**kwargs) if entity_of else None
            uow = UnitOfWork(name, actor, chain_for(entity_id), entity_id)
            return run_unit(lambda: fn(actor, **kwargs), uow, kwargs)

        run.command_name = name  # type: ignore[attr-defined]
        return run

    return decorate
