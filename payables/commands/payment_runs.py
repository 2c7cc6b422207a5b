"""Payment runs: a sync feed of payments made, or a batch of bills to pay, worked by a
Celery task (`payables.runs`) item by item through the one command path."""

import functools
from typing import Any
from uuid import UUID

from django.db import transaction

from payables import runs
from payables.commands.common import entity_kwarg, get_entity, replayed
from payables.models import PaymentRun, PaymentRunItem
from platform_integrity import idempotency, permissions, record
from platform_integrity.command import command
from platform_integrity.context import Actor
from platform_integrity.errors import ValidationFailed
from platform_integrity.unit import current


@command("payables.payment_run_create", entity_of=entity_kwarg)
def payment_run_create(
    actor: Actor,
    *,
    kind: str,
    items: list[dict[str, Any]],
    entity_id: UUID | None = None,
    external_id: str | None = None,
) -> PaymentRun:
    """Record a sync feed or a batch of bills to pay; its Celery task is sent on commit.

    A replayed `external_id` (which needs the run's entity) returns the original run,
    whose task was sent when it was created.
    """
    permissions.require(actor, "payables.pay_bill", "start payment runs")
    entity = get_entity(entity_id) if entity_id is not None else None
    request = {"kind": kind, "items": items}
    if external_id:
        if entity is None:
            raise ValidationFailed(
                "A run sent with an idempotency key names its entity.", field="entity_id"
            )
        original = idempotency.recall(entity.id, "payment_run", external_id, request)
        if original is not None:
            return replayed(PaymentRun, original)
    run = record.created(
        PaymentRun(kind=kind, entity=entity, created_by=actor.user),
        actor,
        payload={"kind": kind, "items": items},
    )
    if external_id:
        idempotency.remember(entity.id, "payment_run", external_id, request, run.id)
    current().changes.add_all(
        [
            PaymentRunItem(
                run=run,
                position=i,
                bill_id=str(item["bill_id"]),
                amount_minor=item.get("amount_minor"),
                currency_code=item.get("currency_code") or "",
                external_id=item.get("external_id") or f"batch:{run.id}:{item['bill_id']}",
            )
            for i, item in enumerate(items)
        ],
        actor,
    )
    transaction.on_commit(functools.partial(runs.payment_run_send, run.id, kind))
    return run
