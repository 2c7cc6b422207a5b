"""The ledger's rules, written once: the commands refuse what breaks them, the screens and
the API offer only what the commands would accept."""

from datetime import date

from ledger.errors import (
    ControlAccountReserved,
    EntityConfigurationInvalid,
    InvalidTransition,
    JournalEntryImmutable,
    PeriodLocked,
    PostingDateOutsidePeriod,
    SystemEntryLocked,
)
from ledger.lines import LineInput
from ledger.models import Account, Entity, JournalEntry, Period

Status = JournalEntry.Status

PREPARE = "ledger.prepare_journalentry"
SUPERVISE = "ledger.supervise_journalentry"
APPROVE = "ledger.approve_journalentry"

# Why an approver sends an entry back: the codes the API takes, the words screens show.
REJECT_REASONS = [
    ("MISSING_SUPPORT", "Missing supporting documents"),
    ("WRONG_ACCOUNT", "Wrong account"),
    ("WRONG_AMOUNT", "Wrong amount"),
    ("WRONG_PERIOD", "Wrong period or date"),
    ("DUPLICATE", "Duplicate entry"),
    ("OTHER", "Other"),
]

# Entries posted by a source document (a bill, a payment, a payment's void) are unwound
# only by that document's own lifecycle: voiding the payment, crediting the bill.
MANUAL_SOURCES = ("MANUAL", "REVERSAL")


def took_part(user_id: int, entry: JournalEntry) -> bool:
    """Prepared, edited or submitted it: such a user can never be its approver."""
    return user_id in (entry.prepared_by_id, entry.submitted_by_id, *entry.contributor_ids)


def may_handle(user, entry: JournalEntry) -> bool:
    """Edit, submit or void: the preparer, or a supervisor for another preparer's entry."""
    return user.has_perm(PREPARE) and (entry.prepared_by_id == user.pk or user.has_perm(SUPERVISE))


def may_approve(user, entry: JournalEntry) -> bool:
    return user.has_perm(APPROVE) and not took_part(user.pk, entry)


def may_submit(user, entry: JournalEntry) -> bool:
    return entry.status == Status.DRAFT and may_handle(user, entry)


def may_void(user, entry: JournalEntry) -> bool:
    return (
        entry.status in (Status.DRAFT, Status.PENDING_APPROVAL)
        and entry.source_type in MANUAL_SOURCES
        and may_handle(user, entry)
    )


def needs_approval(entry: JournalEntry, threshold_minor: int) -> bool:
    """Above the entity's threshold an entry waits for an approver; at or below, it posts."""
    return entry.total_debit_minor > threshold_minor


def refuse_unless(entry: JournalEntry, action: str, allowed: tuple[str, ...]) -> None:
    """An entry in another status than `allowed` cannot be `action`."""
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


def refuse_system_entry(entry: JournalEntry, action: str) -> None:
    if entry.source_type not in MANUAL_SOURCES:
        raise SystemEntryLocked(
            f"This entry was posted by {entry.source_type.lower().replace('_', ' ')} "
            f"{entry.source_id}; it cannot be {action} here, only through its document.",
            object_type="journal_entry",
            object_id=str(entry.id),
            source_type=entry.source_type,
            source_id=entry.source_id,
        )


def open_period(period: Period) -> None:
    if period.status != Period.Status.OPEN:
        raise PeriodLocked(
            f"Period {period.name} is closed; nothing can be posted into it.",
            period_id=str(period.id),
        )


def check_posting_date(period: Period, day: date) -> None:
    if not period.contains(day):
        raise PostingDateOutsidePeriod(
            f"Posting date {day.isoformat()} is outside period {period.name} "
            f"({period.start_date.isoformat()} to {period.end_date.isoformat()}).",
            period_id=str(period.id),
        )


def refuse_control_account(entity: Entity, lines: list[LineInput]) -> None:
    """Manual entries keep off the AP control account: payables alone posts it, so that
    its balance is always the open bills' (an invariant `verify_integrity` checks)."""
    control = entity.ap_control_account_id
    used = [i for i, line in enumerate(lines) if control and line.account_id == control]
    if used:
        raise ControlAccountReserved(
            "The accounts payable control account is posted by bills and payments only; "
            "use another account.",
            lines=used[:50],
        )


def required_account(entity: Entity, role: str) -> Account:
    """The account the entity uses in `role` (AP control, bank, FX gain/loss)."""
    account = getattr(entity, role)
    if account is None:
        raise EntityConfigurationInvalid(
            f"Entity {entity.name} has no {role.replace('_', ' ')} configured.",
            entity_id=str(entity.id),
            missing=role,
        )
    return account


def trial_balance_date(as_of: date | None, today: date) -> date | None:
    """As of today or later the running balances are the answer as they stand: no date."""
    return as_of if as_of is not None and as_of < today else None
