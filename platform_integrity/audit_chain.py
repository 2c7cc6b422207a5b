"""Verifying the audit log's chains, and anchoring their heads outside the database.

`verify_audit_chain` walks every chain (`verify_chains`); with `--anchor` it keeps the
heads it verified in a file the operator keeps off the database host and publishes
them as an event (`audit_anchor_publish`), so a chain cut at its end later, or a log
truncated, no longer verifies.
"""

import contextlib
import dataclasses
import datetime
from collections.abc import Iterable, Iterator

from django.db import connection, models, transaction
from django.utils import timezone

from platform_integrity import outbox
from platform_integrity.audit import chain_hash, hashed_fields, legacy_hash_matches, record
from platform_integrity.command import command
from platform_integrity.context import Actor
from platform_integrity.models import AuditChainHead, AuditEvent


@dataclasses.dataclass(frozen=True)
class ChainHead:
    """The last row of a chain when it was verified, and how many rows led to it."""

    chain: str
    head_id: int
    head_hash: str
    rows: int


@dataclasses.dataclass
class Verification:
    problems: list[str]
    heads: list[ChainHead]


def verify_chains(anchored: Iterable[ChainHead] = ()) -> Verification:
    """Walk every chain in order: the problems found (none when the log is intact),
    and the head of each chain.

    Rows written before the audit key carry an unkeyed hash; they are accepted only
    at the start of a chain, before its first keyed row, whose hash vouches for them
    (`seal_legacy_chains` wrote one onto every chain that had them). A chain with no
    keyed row at all is a problem: anyone could have written it.

    Each `anchored` head, verified earlier, must still be in its chain: otherwise
    rows were cut from the chain's end (its recorded head moved back with them), or
    the whole chain is gone.
    """
    problems: list[str] = []
    last: dict[str, tuple[int, str]] = {}
    rows: dict[str, int] = {}
    keyed: set[str] = set()
    anchors = {head.head_id: head for head in anchored}
    found: dict[int, str] = {}
    with _one_snapshot():
        events = AuditEvent.objects.order_by("chain", "id").values()
        for event in events.iterator(chunk_size=2000):
            chain, number, prev_hash = event["chain"], event["id"], event["prev_hash"]
            if prev_hash != last.get(chain, (0, ""))[1]:
                problems.append(f"audit #{number} ({chain}): prev_hash does not link")
            fields = hashed_fields(event)
            if chain_hash(prev_hash, fields) == event["hash"]:
                keyed.add(chain)
            elif chain in keyed or not legacy_hash_matches(prev_hash, fields, event["hash"]):
                problems.append(f"audit #{number} ({chain}): hash does not match its content")
            last[chain] = number, event["hash"]
            rows[chain] = rows.get(chain, 0) + 1
            if number in anchors and anchors[number].chain == chain:
                found[number] = event["hash"]
        recorded = dict(AuditChainHead.objects.values_list("chain", "head_hash"))
    for chain in sorted(set(recorded) | set(last)):
        if recorded.get(chain) != last.get(chain, (0, None))[1]:
            problems.append(f"chain {chain}: its recorded head is not its last row (rows missing)")
    for chain in sorted(set(last) - keyed):
        problems.append(f"chain {chain}: no row of it carries the keyed hash (not written here)")
    for number, head in sorted(anchors.items()):
        if found.get(number) == head.head_hash:
            continue
        now = f"{rows[head.chain]} rows now" if head.chain in rows else "no rows now"
        what = "was rewritten" if number in found else "is gone"
        problems.append(
            f"chain {head.chain}: its anchored head #{number} {what}"
            f" ({head.rows} rows up to it at the anchor, {now})"
        )
    heads = [
        ChainHead(chain, head_id, head_hash, rows[chain])
        for chain, (head_id, head_hash) in sorted(last.items())
    ]
    return Verification(problems, heads)


@contextlib.contextmanager
def _one_snapshot() -> Iterator[None]:
    """Reads that all see one snapshot, so rows committed while the log is walked do not
    look like a head without its rows. Inside a transaction already, they share its own."""
    isolate = not connection.in_atomic_block
    with transaction.atomic():
        if isolate:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def seal_legacy_chains(
    events: type[models.Model] = AuditEvent, heads: type[models.Model] = AuditChainHead
) -> list[str]:
    """Chain a keyed row onto every chain whose last row carries the unkeyed hash of
    before the audit key (migration 0009 does, with its own models); its keyed hash
    vouches for the rows before it. The chains sealed."""
    sealed = []
    for head in heads.objects.order_by("chain"):
        last = events.objects.filter(pk=head.head_id).values().first()
        if last and chain_hash(last["prev_hash"], hashed_fields(last)) == last["hash"]:
            continue
        row = {
            "chain": head.chain,
            "occurred_at": timezone.now(),
            "actor": "system",
            "channel": "SYSTEM",
            "ip": None,
            "action": "platform_integrity.audit_chain_seal",
            "object_type": "audit_chain",
            "object_id": head.chain,
            "outcome": AuditEvent.Outcome.ACCEPTED.value,
            "reason_code": "",
            "payload": {"unkeyed_up_to": head.head_id},
            "prev_hash": head.head_hash,
        }
        row["hash"] = chain_hash(row["prev_hash"], hashed_fields(row))
        seal = events.objects.create(**row)
        heads.objects.filter(chain=head.chain).update(head_hash=seal.hash, head_id=seal.id)
        sealed.append(head.chain)
    return sealed


@command("platform_integrity.audit_anchor_publish")
def audit_anchor_publish(
    actor: Actor, *, heads: list[ChainHead], anchored_at: datetime.datetime
) -> None:
    """Publish heads just verified and anchored: integrations reading the event stream
    keep a copy of them outside the database too."""
    record(
        action="platform_integrity.audit_anchor_publish",
        object_type="audit_chain",
        object_id="",
        payload={"chains": len(heads), "rows": sum(head.rows for head in heads)},
    )
    outbox.emit(
        "audit.anchored",
        {"anchored_at": anchored_at, "heads": [dataclasses.asdict(head) for head in heads]},
    )
