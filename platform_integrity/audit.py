"""The append-only, hash-chained audit log."""

import dataclasses
import hashlib
import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from platform_integrity.models import AuditEvent
from platform_integrity.unit_of_work import current

MAX_LISTED_ITEMS = 50


class PayloadEncoder(DjangoJSONEncoder):
    """Command arguments as JSON: dataclass inputs (journal lines) become objects."""

    def default(self, o: Any) -> Any:
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        return super().default(o)


def canonical(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as it will read back from jsonb: plain JSON types, long lists summarised."""
    summarised = {
        key: {"count": len(value), "first": value[:MAX_LISTED_ITEMS]}
        if isinstance(value, list) and len(value) > MAX_LISTED_ITEMS
        else value
        for key, value in payload.items()
    }
    return json.loads(json.dumps(summarised, cls=PayloadEncoder))


def chain_hash(prev_hash: str, row: dict[str, Any]) -> str:
    body = json.dumps(row, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def hashed_fields(event: AuditEvent) -> dict[str, Any]:
    return {
        "chain": event.chain,
        "occurred_at": event.occurred_at.isoformat(),
        "actor": event.actor,
        "channel": event.channel,
        "ip": event.ip,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "outcome": event.outcome,
        "reason_code": event.reason_code,
        "payload": event.payload,
    }


def record(
    *,
    action: str,
    object_type: str,
    object_id: str,
    outcome: str = AuditEvent.Outcome.ACCEPTED,
    reason_code: str = "",
    payload: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one row to the unit of work's chain (its advisory lock orders the chain)."""
    uow = current()
    # The chain's head is read once per transaction (the advisory lock keeps it ours).
    if uow.audit_head is None:
        uow.audit_head = (
            AuditEvent.objects.filter(chain=uow.chain)
            .order_by("-id")
            .values_list("hash", flat=True)
            .first()
        ) or ""
    prev_hash = uow.audit_head
    event = AuditEvent(
        chain=uow.chain,
        occurred_at=timezone.now(),
        actor=uow.actor.username,
        channel=uow.actor.channel,
        ip=uow.actor.ip,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        outcome=outcome,
        reason_code=reason_code,
        payload=canonical(payload or {}),
        prev_hash=prev_hash,
    )
    event.hash = chain_hash(prev_hash, hashed_fields(event))
    event.save(force_insert=True)
    uow.audit_head = event.hash
    return event


def verify_chains() -> list[str]:
    """Problems found walking every chain in order; empty when the log is intact."""
    problems: list[str] = []
    last_hash: dict[str, str] = {}
    for event in AuditEvent.objects.order_by("chain", "id").iterator(chunk_size=2000):
        expected_prev = last_hash.get(event.chain, "")
        if event.prev_hash != expected_prev:
            problems.append(f"audit #{event.id} ({event.chain}): prev_hash does not link")
        if chain_hash(event.prev_hash, hashed_fields(event)) != event.hash:
            problems.append(f"audit #{event.id} ({event.chain}): hash does not match its content")
        last_hash[event.chain] = event.hash
    return problems
