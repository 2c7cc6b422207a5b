"""Journal entries: create, edit, submit, approve, reject, void and reverse.

Creates and submits are batched (`platform_integrity.batching`): calls queued for one
entity share a queue, so a preparer's create and submit each ride the next batch,
and a create can submit in the same call ("Save and submit", the API's
`"submit": true`), so the entry is written once, posted or waiting for approval.
"""

import copy
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from django.contrib.auth import get_user_model
from django.utils import timezone

from ledger import events, rules
from ledger.balances import send_entry_locks
from ledger.commands.setup import by_entity, get
from ledger.errors import (
    InvalidTransition,
    PeriodInvalid,
)
from ledger.journal import Journal, send_stored_movements
from ledger.lines import LineInput, reversing
from ledger.models import Account, Entity, JournalEntry, JournalEntryLine, Period
from platform_integrity import audit, idempotency, outbox, permissions, reads, record
from platform_integrity.batching import Batching
from platform_integrity.command import command
from platform_integrity.context import Actor
from platform_integrity.errors import NotFound
from platform_integrity.ids import as_uuid, entity_id_of
from platform_integrity.locks import lock_one, lock_rows
from platform_integrity.unit import Request, current

Status = JournalEntry.Status
ENTRY_QUEUE = "ledger.journal_entry"


def entry_entity(*, entry_id: Any, **_: Any) -> UUID | None:
    return entity_id_of(JournalEntry, entry_id)


def _entry_not_found(entry_id: Any) -> NotFound:
    return NotFound(
        f"Journal entry {entry_id} does not exist.",
        object_type="journal_entry",
        object_id=str(entry_id),
    )


def lock_entry(entry_id: Any) -> JournalEntry:
    entry = lock_one(JournalEntry, entry_id) if as_uuid(entry_id) else None
    if entry is None:
        raise _entry_not_found(entry_id)
    return entry


def journal_of(entry: JournalEntry) -> Journal:
    return Journal(entry.entity)


def _require_preparer_or_supervisor(actor: Actor, entry: JournalEntry, action: str) -> None:
    """Preparers act on their own entries; another's needs the supervising role."""
    extra = {"object_type": "journal_entry", "object_id": str(entry.id)}
    permissions.require(actor, rules.PREPARE, f"{action} journal entries", **extra)
    if actor.user is not None and not rules.may_handle(actor.user, entry):
        permissions.require(actor, rules.SUPERVISE, f"{action} another preparer's entry", **extra)


def _record_contributor(actor: Actor, entry: JournalEntry) -> None:
    """Remember who besides the preparer edited or submitted it: none of them may approve."""
    if actor.user is None or actor.user.pk == entry.prepared_by_id:
        return
    if actor.user.pk not in entry.contributor_ids:
        entry.contributor_ids = [*entry.contributor_ids, actor.user.pk]


# Creating ---------------------------------------------------------------------------


@dataclass
class Creates:
    """What a batch of creates reads once: each entity's journal (`journals`)."""

    journals: dict[Any, Journal] = field(default_factory=dict)


def _prepare_creates(requests: list[Request]) -> Creates:
    """The journal of the unit's entity, with what the calls' entries read: the entity,
    the periods and accounts the calls name, the balances the entries submitted with
    them post to (locked) and the audit head — all sent before any is read (one round
    trip, pipelined). Another entity a call names is read when it comes (and refused).
    """
    uow = current()
    if uow.entity_id is None:
        return Creates()
    calls = [request.kwargs for request in requests]
    lines = [
        (call, account)
        for call in calls
        for line in call.get("lines") or []
        if (account := as_uuid(getattr(line, "account_id", None)))
    ]
    posting_to = {account for call, account in lines if call.get("submit")}
    sent_balances = send_entry_locks(uow.entity_id, posting_to) if posting_to else None
    sent_entity = reads.send_by_ids(Entity, [uow.entity_id])
    periods = {key for call in calls if (key := as_uuid(call.get("period_id")))}
    sent_periods = reads.send_by_ids(Period, periods)
    sent_accounts = reads.send_by_ids(Account, {account for _, account in lines})
    audit.send_head(uow)
    locked = {row.account_id: row for row in sent_balances.rows()} if sent_balances else {}
    entities = sent_entity.rows()
    found = {period.pk: period for period in sent_periods.rows()}
    accounts = sent_accounts.rows()
    if not entities:
        return Creates()
    own = {key: period for key, period in found.items() if period.entity_id == uow.entity_id}
    journal = Journal(entities[0], locked=locked)
    journal.read_already(periods={key: own.get(key) for key in periods}, accounts=accounts)
    return Creates({uow.entity_id: journal})


@command(
    "ledger.journal_entry_create",
    entity_of=by_entity,
    batch=Batching(
        prepare=_prepare_creates,
        first_lock="account_balance",  # with submit, when its entries post
        queue=ENTRY_QUEUE,
    ),
)
def journal_entry_create(
    actor: Actor,
    *,
    entity_id: UUID,
    period_id: UUID,
    posting_date: date,
    lines: list[LineInput],
    memo: str = "",
    external_id: str | None = None,
    submit: bool = False,
    batch: Creates,
) -> JournalEntry:
    """Validate everything and store a DRAFT; a replayed `external_id` returns the original
    with `replayed` set.

    With `submit`, the new entry is submitted in the same unit ("Save and submit"):
    it is written once, already posted or waiting for approval, never as a DRAFT
    that a failure between two requests could strand.
    """
    permissions.require(actor, rules.PREPARE, "prepare journal entries")
    key = as_uuid(entity_id) or entity_id
    if key not in batch.journals:
        batch.journals[key] = Journal(get(Entity, entity_id, "entity"))
    journal = batch.journals[key]
    entity = journal.entity
    request = {
        "period_id": str(period_id),
        "posting_date": posting_date,
        "memo": memo,
        "lines": [line.__dict__ for line in lines],
        "submit": submit,
    }
    if external_id:
        existing = idempotency.recall(entity.id, "journal_entry", external_id, request)
        if existing:
            created = current().changes.added(JournalEntry, id=as_uuid(existing))
            original = copy.copy(created) if created else JournalEntry.objects.get(pk=existing)
            original.replayed = True
            return original
    period = journal.period(period_key) if (period_key := as_uuid(period_id)) else None
    if period is None:
        raise PeriodInvalid("The period does not exist in this entity.", period_id=str(period_id))
    entry = journal.add(
        actor,
        posting_date=posting_date,
        memo=memo,
        lines=lines,
        period=period,
        external_id=external_id,
        post=False,
    )
    if external_id:
        idempotency.remember(entity.id, "journal_entry", external_id, request, entry.id)
    audit.record(
        action="ledger.journal_entry_create",
        object_type="journal_entry",
        object_id=str(entry.id),
        payload={
            "entity_id": entity.id,
            "external_id": external_id,
            "posting_date": posting_date,
            "line_count": entry.line_count,
            "total_debit_minor": entry.total_debit_minor,
        },
    )
    outbox.emit("gl.journal_entry.created", events.journal_entry_event(entry))
    if submit:
        _submit(actor, entry, journal)
    return entry


# Submitting -------------------------------------------------------------------------


def _submit(
    actor: Actor,
    entry: JournalEntry,
    journal: Journal,
    movements: dict[UUID, int] | None = None,
) -> JournalEntry:
    """Route an entry for approval above the threshold, or post it."""
    rules.open_period(entry.period)
    entry.submitted_at = timezone.now()
    entry.submitted_by = actor.user
    _record_contributor(actor, entry)
    entry.routed_threshold_minor = entry.entity.approval_threshold_minor
    entry.rejection_reason_code = ""
    entry.rejection_reason = ""
    routed_to_approval = rules.needs_approval(entry, entry.routed_threshold_minor)
    if routed_to_approval:
        entry.route_for_approval()
    else:
        entry.auto_approved = True
    audit.record(
        action="ledger.journal_entry_submit",
        object_type="journal_entry",
        object_id=str(entry.id),
        payload={
            "routed_to": "approval"
            if routed_to_approval
            else "posting (auto-approved under threshold)",
            "total_debit_minor": entry.total_debit_minor,
            "approval_threshold_minor": entry.entity.approval_threshold_minor,
        },
    )
    if routed_to_approval:
        journal.changed(entry, actor)
        outbox.emit("gl.journal_entry.submitted", events.journal_entry_event(entry))
    else:
        journal.post(entry, actor, movements)
    return entry


@dataclass
class Submits:
    """What a batch of submits reads once: the entries (locked, with their entity, period
    and preparer) and their lines' movements."""

    entries: dict[UUID, JournalEntry]
    movements: dict[UUID, dict[UUID, int]]
    journals: dict[UUID, Journal] = field(default_factory=dict)


def _prepare_submits(requests: list[Request]) -> Submits:
    ids = {as_uuid(r.kwargs.get("entry_id")) for r in requests} - {None}
    entries = {e.id: e for e in lock_rows(JournalEntry, ids)}
    movements = send_stored_movements(list(entries))
    sent = [
        reads.send_by_ids(Entity, {e.entity_id for e in entries.values()}),
        reads.send_by_ids(Period, {e.period_id for e in entries.values()}),
        reads.send_by_ids(get_user_model(), {e.prepared_by_id for e in entries.values()}),
    ]
    entities, periods, users = ({row.pk: row for row in rows.rows()} for rows in sent)
    for entry in entries.values():
        entry.entity = entities[entry.entity_id]
        entry.period = periods[entry.period_id]
        entry.prepared_by = users[entry.prepared_by_id]
    return Submits(entries, movements())


@command(
    "ledger.journal_entry_submit",
    batch=Batching(
        prepare=_prepare_submits,
        first_lock="journal_entry",
        entity_row=(JournalEntry, "entry_id"),
        queue=ENTRY_QUEUE,
    ),
)
def journal_entry_submit(actor: Actor, *, entry_id: UUID, batch: Submits) -> JournalEntry:
    """Above the entity's threshold an entry waits for approval; below it, it posts."""
    entry = batch.entries.get(as_uuid(entry_id))
    if entry is None:
        raise _entry_not_found(entry_id)
    _require_preparer_or_supervisor(actor, entry, "submit")
    rules.refuse_unless(entry, "submitted", (Status.DRAFT,))
    journal = batch.journals.setdefault(entry.entity_id, journal_of(entry))
    return _submit(actor, entry, journal, batch.movements.get(entry.id, {}))


# Editing, deciding, voiding, reversing ------------------------------------------------


@command("ledger.journal_entry_update", entity_of=entry_entity)
def journal_entry_update(
    actor: Actor,
    *,
    entry_id: UUID,
    memo: str | None = None,
    posting_date: date | None = None,
    lines: list[LineInput] | None = None,
) -> JournalEntry:
    """Edit a DRAFT: its preparer, or a supervisor (recorded as a contributor, who then
    cannot approve it); posted and void entries are immutable."""
    entry = lock_entry(entry_id)
    _require_preparer_or_supervisor(actor, entry, "edit")
    rules.refuse_unless(entry, "edited", (Status.DRAFT,))
    if posting_date is not None:
        rules.check_posting_date(entry.period, posting_date)
        entry.posting_date = posting_date
    rules.open_period(entry.period)
    if memo is not None:
        entry.memo = memo
    if lines is not None:
        rules.refuse_control_account(entry.entity, lines)
        journal_of(entry).replace_lines(entry, lines, actor)
    _record_contributor(actor, entry)
    return record.changed(
        entry,
        ["memo", "posting_date", "line_count", "total_debit_minor", "contributor_ids"],
        actor,
        payload={"memo": memo, "posting_date": posting_date, "line_count": entry.line_count},
    )


@command("ledger.journal_entry_void", entity_of=entry_entity)
def journal_entry_void(actor: Actor, *, entry_id: UUID, reason: str = "") -> JournalEntry:
    entry = lock_entry(entry_id)
    _require_preparer_or_supervisor(actor, entry, "void")
    rules.refuse_system_entry(entry, "voided")
    rules.refuse_unless(entry, "voided", (Status.DRAFT, Status.PENDING_APPROVAL))
    entry.void(reason=reason)
    entry.voided_at = timezone.now()
    record.changed(entry, ["status", "void_reason", "voided_at"], actor, payload={"reason": reason})
    outbox.emit("gl.journal_entry.voided", events.journal_entry_event(entry))
    return entry


@command("ledger.journal_entry_reverse", entity_of=entry_entity)
def journal_entry_reverse(
    actor: Actor, *, entry_id: UUID, posting_date: date, period_id: UUID, memo: str = ""
) -> JournalEntry:
    """Correct a posted entry with a new, linked entry of the opposite lines.

    The reversal carries the original functional amounts (not re-converted), so it
    nets the original to zero exactly; it is submitted like any entry, so above the
    threshold it waits for an approver.
    """
    permissions.require(actor, rules.PREPARE, "reverse journal entries")
    original = lock_entry(entry_id)
    extra = {"object_type": "journal_entry", "object_id": str(original.id)}
    rules.refuse_system_entry(original, "reversed")
    if original.status != Status.POSTED:
        raise InvalidTransition("Only a posted entry can be reversed.", **extra)
    if JournalEntry.objects.filter(reversal_of=original).exclude(status=Status.VOID).exists():
        raise InvalidTransition("This entry has already been reversed.", **extra)
    period = Period.objects.filter(pk=period_id, entity_id=original.entity_id).first()
    if period is None:
        raise PeriodInvalid("The period does not exist in this entity.", period_id=str(period_id))
    journal = journal_of(original)
    reversal = journal.add(
        actor,
        posting_date=posting_date,
        memo=memo or f"Reversal of {original.id}",
        lines=reversing(
            list(JournalEntryLine.objects.filter(journal_entry=original).order_by("line_no"))
        ),
        source_type="REVERSAL",
        source_id=original.source_id,
        period=period,
        post=False,
    )
    reversal.reversal_of = original
    audit.record(
        action="ledger.journal_entry_reverse",
        object_type="journal_entry",
        object_id=str(reversal.id),
        payload={"reversal_of": original.id, "line_count": reversal.line_count},
    )
    return _submit(actor, reversal, journal)
