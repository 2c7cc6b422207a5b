"""The append-only, hash-chained audit log."""

import dataclasses
import hashlib
import json
from typing import Any

import orjson
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

from platform_integrity import bulk
from platform_integrity.models import AuditChainHead, AuditEvent
from platform_integrity.unit_of_work import UnitOfWork, current

MAX_LISTED_ITEMS = 50


class PayloadEncoder(DjangoJSONEncoder):
    """Command arguments as JSON: dataclass inputs (journal lines) become objects."""

    def default(self, o: Any) -> Any:
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        return super().default(o)


def canonical(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as it will read back from jsonb: plain JSON types, long lists summarised.

    Values are written as `PayloadEncoder` writes them (its date and time formats too).
    """
    summarised = {
        key: {"count": len(value), "first": value[:MAX_LISTED_ITEMS]}
        if isinstance(value, list) and len(value) > MAX_LISTED_ITEMS
        else value
        for key, value in payload.items()
    }
    return orjson.loads(
        orjson.dumps(summarised, default=_PAYLOAD_ENCODER.default, option=_PAYLOAD_OPTIONS)
    )


_PAYLOAD_ENCODER = PayloadEncoder()
_PAYLOAD_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS
)
HASHED_FIELDS = (
    "chain",
    "occurred_at",
    "actor",
    "channel",
    "ip",
    "action",
    "object_type",
    "object_id",
    "outcome",
    "reason_code",
    "payload",
)


def chain_hash(prev_hash: str, row: dict[str, Any]) -> str:
    body = json.dumps(row, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def hashed_fields(event: dict[str, Any]) -> dict[str, Any]:
    """What a row's hash covers, from its column values."""
    return {
        **{name: event[name] for name in HASHED_FIELDS},
        "occurred_at": event["occurred_at"].isoformat(),
    }


def record(
    *,
    action: str,
    object_type: str,
    object_id: str,
    outcome: str = AuditEvent.Outcome.ACCEPTED,
    reason_code: str = "",
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Chain one row onto the unit of work's chain; it is written by `flush` before commit.

    The row is kept as its column values (a batch records hundreds); `flush`
    sets its "id". The chain's advisory lock, held by the unit of work, makes
    the head ours to extend.
    """
    uow = current()
    if uow.audit_head is None:
        send_head(uow)
        with uow.audit_head_read as cursor:
            head = cursor.fetchone()
        uow.audit_head_read = None
        uow.audit_head_stored = head is not None
        uow.audit_head = head[0] if head else ""
    event = {
        "chain": uow.chain,
        "occurred_at": timezone.now(),
        "actor": uow.actor.username,
        "channel": uow.actor.channel,
        "ip": uow.actor.ip,
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
        "outcome": str(outcome),
        "reason_code": reason_code,
        "payload": canonical(payload or {}),
        "prev_hash": uow.audit_head,
    }
    event["hash"] = chain_hash(event["prev_hash"], hashed_fields(event))
    uow.audit_head = event["hash"]
    uow.audit_rows.append(event)
    return event


def send_head(uow: UnitOfWork) -> None:
    """Send the read of the unit's chain head, unless it is read or sent already; its
    first `record` reads it. Sent with the unit's other first reads, inside a pipeline,
    it costs no round trip of its own."""
    if uow.audit_head is None and uow.audit_head_read is None:
        cursor = connection.cursor()
        cursor.execute("SELECT head_hash FROM audit_chain_head WHERE chain = %s", [uow.chain])
        uow.audit_head_read = cursor


def flush(uow: UnitOfWork) -> None:
    """Write the unit's audit rows in one INSERT and move the chain head past them."""
    if not uow.audit_rows:
        return
    ids = bulk.insert_values(AuditEvent, uow.audit_rows, read_ids=True)
    for event, pk in zip(uow.audit_rows, ids, strict=True):
        event["id"] = pk
    last = uow.audit_rows[-1]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_chain_head SET head_hash = %s, head_id = %s WHERE chain = %s"
            if uow.audit_head_stored
            else "INSERT INTO audit_chain_head (head_hash, head_id, chain) VALUES (%s, %s, %s)",
            [last["hash"], last["id"], uow.chain],
        )
    uow.audit_head_stored = True
    uow.audit_rows = []


def verify_chains() -> list[str]:
    """Problems found walking every chain in order; empty when the log is intact."""
    problems: list[str] = []
    last_hash: dict[str, str] = {}
    events = AuditEvent.objects.order_by("chain", "id").values()
    for event in events.iterator(chunk_size=2000):
        chain, number = event["chain"], event["id"]
        if event["prev_hash"] != last_hash.get(chain, ""):
            problems.append(f"audit #{number} ({chain}): prev_hash does not link")
        if chain_hash(event["prev_hash"], hashed_fields(event)) != event["hash"]:
            problems.append(f"audit #{number} ({chain}): hash does not match its content")
        last_hash[chain] = event["hash"]
    heads = dict(AuditChainHead.objects.values_list("chain", "head_hash"))
    for chain in sorted(set(heads) | set(last_hash)):
        if heads.get(chain) != last_hash.get(chain):
            problems.append(f"chain {chain}: its recorded head is not its last row (rows missing)")
    return problems
