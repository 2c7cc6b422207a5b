"""The only writers of ledger records. Each command is one guarded unit of work."""

import copy
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.contrib.auth import get_user_model
from django.db import IntegrityError
from django.utils import timezone

from ledger import money, posting, rules
from ledger.errors import (
    ApproverRoleRequired,
    DuplicateCode,
    EntityConfigurationInvalid,
    InvalidTransition,
    JournalEntryImmutable,
    PeriodInvalid,
    SelfApprovalForbidden,
    SystemEntryLocked,
)
from ledger.models import Account, Entity, FxRate, JournalEntry, JournalEntryLine, Period
from platform_integrity import audit, coalescing, idempotency, outbox, permissions, reads
from platform_integrity.context import Actor
from platform_integrity.errors import DomainError, NotFound, ValidationFailed
from platform_integrity.ids import as_uuid, entity_id_of
from platform_integrity.locks import lock_one, lock_rows
from platform_integrity.models import AccountBalance
from platform_integrity.unit_of_work import Coalescing, Request, UnitOfWork, command, current

Status = JournalEntry.Status


def _by_entity(**kwargs: Any) -> UUID | None:
    return kwargs.get("entity_id")


def _entry_entity(*, entry_id: Any, **_: Any) -> UUID | None:
    return entity_id_of(JournalEntry, entry_id)


def _period_entity(*, period_id: Any, **_: Any) -> UUID | None:
    return entity_id_of(Period, period_id)


def _get(model, pk: Any, label: str):
    key = as_uuid(pk)
    obj = reads.by_ids(model, [key]).get(key) if key else None
    if obj is None:
        raise NotFound(f"{label} {pk} does not exist.", object_type=label, object_id=str(pk))
    return obj


# Entities, accounts, periods, rates -------------------------------------------------


@command("ledger.entity_create")
def entity_create(
    actor: Actor, *, name: str, functional_currency: str, approval_threshold_minor: int = 0
) -> Entity:
    permissions.require(actor, "ledger.manage_entity", "create entities")
    money.exponent(functional_currency)
    if approval_threshold_minor < 0:
        raise EntityConfigurationInvalid("The approval threshold cannot be negative.")
    entity = Entity(
        name=name,
        functional_currency=functional_currency,
        approval_threshold_minor=approval_threshold_minor,
    )
    entity._history_user = actor.user
    entity.save()
    audit.record(
        action="ledger.entity_create",
        object_type="entity",
        object_id=str(entity.id),
        payload={
            "name": name,
            "functional_currency": functional_currency,
            "approval_threshold_minor": approval_threshold_minor,
        },
    )
    return entity


ENTITY_ACCOUNT_ROLES = ("ap_control_account", "bank_account", "fx_gain_loss_account")


@command("ledger.entity_update", entity_of=_by_entity)
def entity_update(actor: Actor, *, entity_id: UUID, **changes: Any) -> Entity:
    permissions.require(actor, "ledger.manage_entity", "configure entities", object_type="entity")
    entity = _get(Entity, entity_id, "entity")
    applied: dict[str, Any] = {}
    if changes.get("approval_threshold_minor") is not None:
        if changes["approval_threshold_minor"] < 0:
            raise EntityConfigurationInvalid("The approval threshold cannot be negative.")
        # Auditors read a threshold change as a before and an after.
        applied["approval_threshold_minor"] = {
            "old": entity.approval_threshold_minor,
            "new": changes["approval_threshold_minor"],
        }
        entity.approval_threshold_minor = changes["approval_threshold_minor"]
    for role in ENTITY_ACCOUNT_ROLES:
        account_id = changes.get(f"{role}_id")
        if account_id is None:
            continue
        if not Account.objects.filter(id=account_id, entity=entity, active=True).exists():
            raise EntityConfigurationInvalid(
                f"The {role.replace('_', ' ')} must be an active account of this entity.",
                field=f"{role}_id",
            )
        replaced = as_uuid(account_id) != entity.ap_control_account_id
        if (
            role == "ap_control_account"
            and replaced
            and _carries_postings(entity.ap_control_account_id)
        ):
            raise EntityConfigurationInvalid(
                "The AP control account carries postings; it cannot be replaced.",
                field="ap_control_account_id",
            )
        setattr(entity, f"{role}_id", account_id)
        applied[f"{role}_id"] = str(account_id)
    entity._history_user = actor.user
    entity.save()
    audit.record(
        action="ledger.entity_update",
        object_type="entity",
        object_id=str(entity.id),
        payload=applied,
    )
    return entity


def _carries_postings(account_id: UUID | None) -> bool:
    return (
        account_id is not None
        and JournalEntryLine.objects.filter(coa_account_id=account_id).exists()
    )


@command("ledger.account_create", entity_of=_by_entity)
def account_create(actor: Actor, *, entity_id: UUID, code: str, name: str, type: str) -> Account:
    permissions.require(actor, "ledger.manage_entity", "create accounts")
    entity = _get(Entity, entity_id, "entity")
    if Account.objects.filter(entity=entity, code=code).exists():
        raise DuplicateCode(
            f"Account code {code} is already used in {entity.name}.", code_value=code
        )
    account = Account(entity=entity, code=code, name=name, type=type)
    account._history_user = actor.user
    account.save()
    AccountBalance.objects.create(
        account=account, entity=entity, currency_code=entity.functional_currency
    )
    audit.record(
        action="ledger.account_create",
        object_type="account",
        object_id=str(account.id),
        payload={"code": code, "name": name, "type": type},
    )
    return account


@command(
    "ledger.account_set_active",
    entity_of=lambda *, account_id, **_: entity_id_of(Account, account_id),
)
def account_set_active(actor: Actor, *, account_id: UUID, active: bool) -> Account:
    permissions.require(actor, "ledger.manage_entity", "change accounts")
    account = _get(Account, account_id, "account")
    account.active = active
    account._history_user = actor.user
    account.save(update_fields=["active"])
    audit.record(
        action="ledger.account_set_active",
        object_type="account",
        object_id=str(account.id),
        payload={"active": active},
    )
    return account


@command("ledger.period_create", entity_of=_by_entity)
def period_create(
    actor: Actor, *, entity_id: UUID, name: str, start_date: date, end_date: date
) -> Period:
    permissions.require(actor, "ledger.close_period", "create periods")
    entity = _get(Entity, entity_id, "entity")
    if start_date > end_date:
        raise PeriodInvalid("A period cannot end before it starts.")
    if Period.objects.filter(
        entity=entity, start_date__lte=end_date, end_date__gte=start_date
    ).exists():
        raise PeriodInvalid("This period overlaps an existing period of the entity.")
    if Period.objects.filter(entity=entity, name=name).exists():
        raise PeriodInvalid(f"A period named {name} already exists.")
    period = Period(entity=entity, name=name, start_date=start_date, end_date=end_date)
    period._history_user = actor.user
    period.save()
    audit.record(
        action="ledger.period_create",
        object_type="period",
        object_id=str(period.id),
        payload={"name": name, "start_date": start_date, "end_date": end_date},
    )
    return period


def _period_transition(actor: Actor, period_id: UUID, action: str, reason: str) -> Period:
    permissions.require(
        actor,
        "ledger.close_period",
        f"{action} periods",
        object_type="period",
        object_id=str(period_id),
    )
    period = _get(Period, period_id, "period")
    target = Period.Status.CLOSED if action == "close" else Period.Status.OPEN
    if period.status == target:
        raise ValidationFailed(
            f"Period {period.name} is already {period.status.lower()}.",
            object_type="period",
            object_id=str(period.id),
        )
    transition = period.close if action == "close" else period.reopen
    transition(by=actor.user)
    if action == "close":
        period.closed_at = timezone.now()
    period._history_user = actor.user
    period.save()
    audit.record(
        action=f"ledger.period_{action}",
        object_type="period",
        object_id=str(period.id),
        payload={"name": period.name, "status": period.status, "reason": reason},
    )
    outbox.emit(
        f"gl.period.{'closed' if action == 'close' else 'reopened'}",
        {
            "period_id": str(period.id),
            "entity_id": str(period.entity_id),
            "name": period.name,
        },
    )
    return period


@command("ledger.period_close", entity_of=_period_entity)
def period_close(actor: Actor, *, period_id: UUID, reason: str = "") -> Period:
    return _period_transition(actor, period_id, "close", reason)


@command("ledger.period_reopen", entity_of=_period_entity)
def period_reopen(actor: Actor, *, period_id: UUID, reason: str = "") -> Period:
    return _period_transition(actor, period_id, "reopen", reason)


@command("ledger.fx_rate_create")
def fx_rate_create(
    actor: Actor, *, base_currency: str, quote_currency: str, rate: Decimal, as_of: date
) -> FxRate:
    permissions.require(actor, "ledger.manage_fxrate", "record exchange rates")
    money.exponent(base_currency)
    money.exponent(quote_currency)
    if base_currency == quote_currency or rate <= 0:
        raise ValidationFailed("A rate needs two different currencies and a positive value.")
    if FxRate.objects.filter(
        base_currency=base_currency, quote_currency=quote_currency, as_of=as_of
    ).exists():
        raise ValidationFailed(
            f"A {base_currency}/{quote_currency} rate for {as_of.isoformat()} already exists."
        )
    fx = FxRate(base_currency=base_currency, quote_currency=quote_currency, rate=rate, as_of=as_of)
    fx._history_user = actor.user
    fx.save()
    audit.record(
        action="ledger.fx_rate_create",
        object_type="fx_rate",
        object_id=str(fx.id),
        payload={
            "base_currency": base_currency,
            "quote_currency": quote_currency,
            "rate": str(rate),
            "as_of": as_of,
        },
    )
    return fx


# Journal entries ----------------------------------------------------------------------


def _entry_not_found(entry_id: Any) -> NotFound:
    return NotFound(
        f"Journal entry {entry_id} does not exist.",
        object_type="journal_entry",
        object_id=str(entry_id),
    )


def _lock_entry(entry_id: UUID) -> JournalEntry:
    entry = lock_one(JournalEntry, entry_id) if as_uuid(entry_id) else None
    if entry is None:
        raise _entry_not_found(entry_id)
    return entry


def _refuse(entry: JournalEntry, action: str, allowed: tuple[str, ...]) -> None:
    if entry.status in allowed:
        return
    extra = {
        "object_type": "journal_entry",
        "object_id": str(entry.id),
        "entry_status": entry.status,
    }
    if entry.status in (Status.POSTED, Status.VOID):
        raise JournalEntryImmutable(
            f"Entry is {entry.status}: it cannot be {action}. "
            "A posted entry is corrected by reversing it.",
            **extra,
        )
    raise InvalidTransition(f"An entry in status {entry.status} cannot be {action}.", **extra)


# Entries posted by a source document (a bill, a payment, a payment's void) are unwound
# only by that document's own lifecycle: voiding the payment, crediting the bill.
MANUAL_SOURCES = ("MANUAL", "REVERSAL")


def _refuse_system_entry(entry: JournalEntry, action: str) -> None:
    if entry.source_type not in MANUAL_SOURCES:
        raise SystemEntryLocked(
            f"This entry was posted by {entry.source_type.lower().replace('_', ' ')} "
            f"{entry.source_id}; it cannot be {action} here, only through its document.",
            object_type="journal_entry",
            object_id=str(entry.id),
            source_type=entry.source_type,
            source_id=entry.source_id,
        )


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


# Creates and submits of one entity share a queue: a preparer's create and submit
# then each ride the batch that is next, not a turn of their own command.
ENTRY_QUEUE = "ledger.journal_entry"


def _entry_ref(entry: JournalEntry) -> dict[str, Any]:
    return {"row": coalescing.dump_row(entry), "replayed": entry.replayed}


def _entry_from_ref(ref: dict[str, Any]) -> JournalEntry:
    entry = coalescing.load_row(JournalEntry, ref["row"])
    entry.replayed = ref["replayed"]
    return entry


def _entry_arguments(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A queued create's arguments as the caller passed them (dates, line inputs, UUIDs)."""
    return {
        **kwargs,
        "posting_date": date.fromisoformat(kwargs["posting_date"]),
        "lines": [
            posting.LineInput(
                **{**line, "account_id": as_uuid(line["account_id"]) or line["account_id"]}
            )
            for line in kwargs["lines"]
        ],
    }


@command(
    "ledger.journal_entry_create",
    entity_of=_by_entity,
    coalesce=Coalescing(
        dump=_entry_ref,
        load=_entry_from_ref,
        restore=_entry_arguments,
        queue=ENTRY_QUEUE,
        first_lock="account_balance",  # with submit, when its entries post
    ),
)
def journal_entry_create(requests: list[Request]) -> list[JournalEntry | DomainError]:
    """Validate everything and store DRAFTs: `journal_entry_create(actor, entity_id=..., ...)`;
    with `submit=True`, submit them too, in the same unit of work.

    Calls queued for one entity are answered together (see `_create`).
    """
    uow = current()
    journals = _journals_for(uow, [request.kwargs for request in requests])
    outcomes: list[JournalEntry | DomainError] = []
    for request in requests:
        with uow.acting_as(request.actor):
            try:
                outcomes.append(_create(request.actor, journals, **request.kwargs))
            except DomainError as err:
                outcomes.append(err)
    for journal in journals.values():
        journal.write()
    return outcomes


def _journals_for(uow: UnitOfWork, calls: list[dict[str, Any]]) -> dict[Any, posting.Journal]:
    """The journal of the unit's entity, with what the calls' entries read: the entity,
    the periods and accounts the calls name, the balances the entries submitted with
    them post to (locked) and the audit head — all sent before any is read (one round
    trip, pipelined). Another entity a call names is read when it comes (and refused).
    """
    if uow.entity_id is None:
        return {}
    lines = [
        (call, account)
        for call in calls
        for line in call.get("lines") or []
        if (account := as_uuid(getattr(line, "account_id", None)))
    ]
    posting_to = {account for call, account in lines if call.get("submit")}
    sent_balances = posting.send_balance_locks(uow.entity_id, posting_to) if posting_to else None
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
        return {}
    own = {key: period for key, period in found.items() if period.entity_id == uow.entity_id}
    journal = posting.Journal(entities[0], balances=locked)
    journal.read_already(periods={key: own.get(key) for key in periods}, accounts=accounts)
    return {uow.entity_id: journal}


def _create(
    actor: Actor,
    journals: dict[Any, posting.Journal],
    *,
    entity_id: UUID,
    period_id: UUID,
    posting_date: date,
    lines: list[posting.LineInput],
    memo: str = "",
    external_id: str | None = None,
    submit: bool = False,
) -> JournalEntry:
    """One create request; a replayed external_id returns the original with `replayed` set.

    With `submit`, the new entry is submitted in the same unit ("Save and submit"):
    it is written once, already posted or waiting for approval, never as a DRAFT
    that a failure between two requests could strand.
    """
    permissions.require(actor, rules.PREPARE, "prepare journal entries")
    # Queued calls carry their ids as text: one journal per entity, however it is named.
    key = as_uuid(entity_id) or entity_id
    if key not in journals:
        journals[key] = posting.Journal(_get(Entity, entity_id, "entity"))
    journal = journals[key]
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
            created = journal.created(existing)
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
    outbox.emit("gl.journal_entry.created", posting.journal_entry_event(entry))
    if submit:
        _submit(actor, entry, journal)
    return entry


@command("ledger.journal_entry_update", entity_of=_entry_entity)
def journal_entry_update(
    actor: Actor,
    *,
    entry_id: UUID,
    memo: str | None = None,
    posting_date: date | None = None,
    lines: list[posting.LineInput] | None = None,
) -> JournalEntry:
    """Edit a DRAFT: its preparer, or a supervisor (recorded as a contributor, who then
    cannot approve it); posted and void entries are immutable."""
    entry = _lock_entry(entry_id)
    _require_preparer_or_supervisor(actor, entry, "edit")
    _refuse(entry, "edited", (Status.DRAFT,))
    if posting_date is not None:
        posting.check_posting_date(entry.period, posting_date)
        entry.posting_date = posting_date
    posting.open_period(entry.period)
    if memo is not None:
        entry.memo = memo
    if lines is not None:
        posting.refuse_control_account(entry.entity, lines)
        rows = posting.build_lines(entry.entity, entry.posting_date, lines)
        JournalEntryLine.objects.filter(journal_entry=entry).delete()
        posting.save_lines(entry, rows)
    _record_contributor(actor, entry)
    entry._history_user = actor.user
    entry.save()
    audit.record(
        action="ledger.journal_entry_update",
        object_type="journal_entry",
        object_id=str(entry.id),
        payload={"memo": memo, "posting_date": posting_date, "line_count": entry.line_count},
    )
    return entry


def _submit(
    actor: Actor, entry: JournalEntry, postings: posting.Postings | posting.Journal
) -> JournalEntry:
    """Route an entry for approval above the threshold, or post it; `postings` keeps the change
    (a stored entry's `Postings`, or the `Journal` a new entry is written by)."""
    posting.open_period(entry.period)
    entry.submitted_at = timezone.now()
    entry.submitted_by = actor.user
    _record_contributor(actor, entry)
    entry.routed_threshold_minor = entry.entity.approval_threshold_minor
    entry.rejection_reason_code = ""
    entry.rejection_reason = ""
    if entry.total_debit_minor > entry.routed_threshold_minor:
        entry.route_for_approval()
        postings.changed(entry, actor)
        audit.record(
            action="ledger.journal_entry_submit",
            object_type="journal_entry",
            object_id=str(entry.id),
            payload={
                "routed_to": "approval",
                "total_debit_minor": entry.total_debit_minor,
                "approval_threshold_minor": entry.entity.approval_threshold_minor,
            },
        )
        outbox.emit("gl.journal_entry.submitted", posting.journal_entry_event(entry))
        return entry
    entry.auto_approved = True
    audit.record(
        action="ledger.journal_entry_submit",
        object_type="journal_entry",
        object_id=str(entry.id),
        payload={
            "routed_to": "posting (auto-approved under threshold)",
            "total_debit_minor": entry.total_debit_minor,
            "approval_threshold_minor": entry.entity.approval_threshold_minor,
        },
    )
    postings.post(entry, actor)
    return entry


@command(
    "ledger.journal_entry_submit",
    coalesce=Coalescing(
        dump=_entry_ref,
        load=_entry_from_ref,
        entity_row=(JournalEntry, "entry_id"),
        queue=ENTRY_QUEUE,
    ),
)
def journal_entry_submit(requests: list[Request]) -> list[JournalEntry | DomainError]:
    """Above the entity's threshold an entry waits for approval; below it, it posts.

    `journal_entry_submit(actor, entry_id=...)`; calls queued for one entity are
    answered together, each against the state the ones before it left.
    """
    ids = {as_uuid(r.kwargs.get("entry_id")) for r in requests} - {None}
    entries = {e.id: e for e in lock_rows(JournalEntry, ids)}
    _load_relations(list(entries.values()))
    postings = posting.Postings()
    uow = current()
    outcomes: list[JournalEntry | DomainError] = []
    for request in requests:
        with uow.acting_as(request.actor):
            try:
                entry_id = request.kwargs["entry_id"]
                entry = entries.get(as_uuid(entry_id))
                if entry is None:
                    raise _entry_not_found(entry_id)
                _require_preparer_or_supervisor(request.actor, entry, "submit")
                _refuse(entry, "submitted", (Status.DRAFT,))
                outcomes.append(_submit(request.actor, entry, postings))
            except DomainError as err:
                outcomes.append(err)
    postings.save()
    return outcomes


def _load_relations(entries: list[JournalEntry]) -> None:
    """Each entry's entity, period and preparer: one query per table rather than per entry,
    all three sent before any is read (one round trip, pipelined)."""
    sent = [
        reads.send_by_ids(Entity, {e.entity_id for e in entries}),
        reads.send_by_ids(Period, {e.period_id for e in entries}),
        reads.send_by_ids(get_user_model(), {e.prepared_by_id for e in entries}),
    ]
    entities, periods, users = ({row.pk: row for row in rows.rows()} for rows in sent)
    for entry in entries:
        entry.entity = entities[entry.entity_id]
        entry.period = periods[entry.period_id]
        entry.prepared_by = users[entry.prepared_by_id]


@command("ledger.journal_entry_approve", entity_of=_entry_entity)
def journal_entry_approve(actor: Actor, *, entry_id: UUID) -> JournalEntry:
    entry = _lock_entry(entry_id)
    extra = {"object_type": "journal_entry", "object_id": str(entry.id)}
    if actor.user is None or not actor.user.has_perm(rules.APPROVE):
        raise ApproverRoleRequired("Only an approver can approve journal entries.", **extra)
    if entry.prepared_by_id == actor.user.pk:
        raise SelfApprovalForbidden(
            "You prepared this entry; another approver must approve it.", **extra
        )
    if rules.took_part(actor.user.pk, entry):
        raise SelfApprovalForbidden(
            "You edited or submitted this entry; another approver must approve it.", **extra
        )
    _refuse(entry, "approved", (Status.PENDING_APPROVAL,))
    entry.approved_by = actor.user
    entry.approved_at = timezone.now()
    audit.record(
        action="ledger.journal_entry_approve",
        object_type="journal_entry",
        object_id=str(entry.id),
        payload={
            "prepared_by": entry.prepared_by.get_username(),
            "approved_by": actor.username,
            "total_debit_minor": entry.total_debit_minor,
        },
    )
    return posting.post(actor, entry)


@command("ledger.journal_entry_reject", entity_of=_entry_entity)
def journal_entry_reject(
    actor: Actor, *, entry_id: UUID, reason_code: str, reason: str
) -> JournalEntry:
    entry = _lock_entry(entry_id)
    extra = {"object_type": "journal_entry", "object_id": str(entry.id)}
    if actor.user is None or not actor.user.has_perm(rules.APPROVE):
        raise ApproverRoleRequired("Only an approver can reject journal entries.", **extra)
    _refuse(entry, "rejected", (Status.PENDING_APPROVAL,))
    entry.reject(reason_code=reason_code, reason=reason)
    entry._history_user = actor.user
    entry.save()
    audit.record(
        action="ledger.journal_entry_reject",
        object_type="journal_entry",
        object_id=str(entry.id),
        reason_code=reason_code,
        payload={"reason": reason},
    )
    outbox.emit(
        "gl.journal_entry.rejected",
        {**posting.journal_entry_event(entry), "reason_code": reason_code, "reason": reason},
    )
    return entry


@command("ledger.journal_entry_void", entity_of=_entry_entity)
def journal_entry_void(actor: Actor, *, entry_id: UUID, reason: str = "") -> JournalEntry:
    entry = _lock_entry(entry_id)
    _require_preparer_or_supervisor(actor, entry, "void")
    _refuse_system_entry(entry, "voided")
    _refuse(entry, "voided", (Status.DRAFT, Status.PENDING_APPROVAL))
    entry.void(reason=reason)
    entry.voided_at = timezone.now()
    entry._history_user = actor.user
    entry.save()
    audit.record(
        action="ledger.journal_entry_void",
        object_type="journal_entry",
        object_id=str(entry.id),
        payload={"reason": reason},
    )
    outbox.emit("gl.journal_entry.voided", posting.journal_entry_event(entry))
    return entry


@command("ledger.journal_entry_reverse", entity_of=_entry_entity)
def journal_entry_reverse(
    actor: Actor, *, entry_id: UUID, posting_date: date, period_id: UUID, memo: str = ""
) -> JournalEntry:
    """Correct a posted entry with a new, linked entry of the opposite lines.

    The reversal carries the original functional amounts (not re-converted), so
    it nets the original to zero exactly; it is submitted like any entry, so
    above the threshold it waits for an approver.
    """
    permissions.require(actor, rules.PREPARE, "reverse journal entries")
    original = _lock_entry(entry_id)
    extra = {"object_type": "journal_entry", "object_id": str(original.id)}
    _refuse_system_entry(original, "reversed")
    if original.status != Status.POSTED:
        raise InvalidTransition("Only a posted entry can be reversed.", **extra)
    if JournalEntry.objects.filter(reversal_of=original).exclude(status=Status.VOID).exists():
        raise InvalidTransition("This entry has already been reversed.", **extra)
    period = Period.objects.filter(pk=period_id, entity_id=original.entity_id).first()
    if period is None:
        raise PeriodInvalid("The period does not exist in this entity.", period_id=str(period_id))
    posting.open_period(period)
    posting.check_posting_date(period, posting_date)
    flipped = {"DEBIT": "CREDIT", "CREDIT": "DEBIT"}
    reversal = JournalEntry(
        entity=original.entity,
        period=period,
        posting_date=posting_date,
        memo=memo or f"Reversal of {original.id}",
        prepared_by=actor.user,
        functional_currency_code=original.functional_currency_code,
        reversal_of=original,
        source_type="REVERSAL" if original.source_type == "MANUAL" else original.source_type,
        source_id=original.source_id,
    )
    reversal._history_user = actor.user
    try:
        reversal.save()
    except IntegrityError as exc:
        raise InvalidTransition("This entry has already been reversed.", **extra) from exc
    rows = [
        JournalEntryLine(
            line_no=line.line_no,
            coa_account_id=line.coa_account_id,
            amount_minor=line.amount_minor,
            currency_code=line.currency_code,
            functional_amount_minor=line.functional_amount_minor,
            functional_currency_code=line.functional_currency_code,
            direction=flipped[line.direction],
            dimension_tags=line.dimension_tags,
            memo=line.memo,
        )
        for line in JournalEntryLine.objects.filter(journal_entry=original).order_by("line_no")
    ]
    posting.save_lines(reversal, rows)
    reversal.save(update_fields=["line_count", "total_debit_minor"])
    audit.record(
        action="ledger.journal_entry_reverse",
        object_type="journal_entry",
        object_id=str(reversal.id),
        payload={"reversal_of": original.id, "line_count": reversal.line_count},
    )
    postings = posting.Postings()
    _submit(actor, reversal, postings)
    postings.save()
    return reversal
