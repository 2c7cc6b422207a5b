"""The append-only, hash-chained audit log.

Each row carries an HMAC-SHA256 of the previous row's hash and its own content,
under a key kept outside the database (`RIVANE_AUDIT_KEY`): whoever owns the
database can still remove rows, but cannot write a chain that verifies. Rows
removed from the end of a chain, or whole chains, are caught against heads
verified earlier and kept outside the database (`verify_audit_chain --anchor`).
"""

import dataclasses
import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

import orjson
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

from platform_integrity import bulk
from platform_integrity.models import AuditEvent
from platform_integrity.unit import UnitOfWork, current

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
    """The keyed hash of a row (its `hashed_fields`), chained onto the previous row's.

    Its payload is hashed with numbers as jsonb prints them (`as_jsonb_prints`), so
    the hash is the same from the payload as written and as read back.
    """
    body = orjson.dumps(
        {**row, "payload": as_jsonb_prints(row["payload"])}, option=orjson.OPT_SORT_KEYS
    )
    return hmac.digest(
        settings.RIVANE_AUDIT_KEY.encode(), prev_hash.encode() + body, "sha256"
    ).hex()


_ORJSON_INTEGERS = range(-(2**63), 2**64)


def as_jsonb_prints(value: Any) -> Any:
    """A JSON value with each number as jsonb prints it back.

    jsonb keeps a number's digits but not its notation: a float written as 1e+16
    reads back as the integer 10000000000000000, 1.5e-7 as 0.00000015, -0.0 as 0.0.
    Integers print as they are; those past 64 bits (a large float read back) are
    written from their digits, which orjson cannot do itself.
    """
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) is str else as_jsonb_prints(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) is str else as_jsonb_prints(v) for v in value]
    if kind is float:
        # The digits orjson wrote to jsonb, in jsonb's plain notation.
        digits = Decimal(orjson.dumps(value).decode())
        return orjson.Fragment(format(digits.copy_abs() if digits.is_zero() else digits, "f"))
    if kind is int and value not in _ORJSON_INTEGERS:
        return orjson.Fragment(str(value))
    return value


def legacy_chain_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """The hash of rows written before the audit key: SHA-256, unkeyed, of Python's JSON."""
    body = json.dumps(row, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def legacy_hash_matches(prev_hash: str, row: dict[str, Any], stored: str) -> bool:
    if legacy_chain_hash(prev_hash, row) == stored:
        return True
    # Those rows hashed a float as Python writes it, 1e+16, which reads back as an integer.
    as_written = {**row, "payload": _large_integers_as_floats(row["payload"])}
    return legacy_chain_hash(prev_hash, as_written) == stored


def _large_integers_as_floats(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _large_integers_as_floats(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_large_integers_as_floats(item) for item in value]
    if type(value) is int and abs(value) >= 10**16 and float(value) == value:
        return float(value)
    return value


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
