"""An approver's decision on an entry waiting for approval: approve (it posts) or reject
(it goes back to DRAFT, with the reason kept). The approver is never someone who
prepared, edited or submitted the entry."""

from uuid import UUID

from django.utils import timezone

from ledger import events, rules
from ledger.commands.journal_entries import entry_entity, journal_of, lock_entry
from ledger.errors import ApproverRoleRequired, SelfApprovalForbidden
from ledger.models import JournalEntry
from platform_integrity import audit, outbox, record
from platform_integrity.command import command
from platform_integrity.context import Actor

Status = JournalEntry.Status


@command("ledger.journal_entry_approve", entity_of=entry_entity)
def journal_entry_approve(actor: Actor, *, entry_id: UUID) -> JournalEntry:
    entry = lock_entry(entry_id)
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
    rules.refuse_unless(entry, "approved", (Status.PENDING_APPROVAL,))
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
    journal_of(entry).post(entry, actor)
    return entry


@command("ledger.journal_entry_reject", entity_of=entry_entity)
def journal_entry_reject(
    actor: Actor, *, entry_id: UUID, reason_code: str, reason: str
) -> JournalEntry:
    entry = lock_entry(entry_id)
    extra = {"object_type": "journal_entry", "object_id": str(entry.id)}
    if actor.user is None or not actor.user.has_perm(rules.APPROVE):
        raise ApproverRoleRequired("Only an approver can reject journal entries.", **extra)
    rules.refuse_unless(entry, "rejected", (Status.PENDING_APPROVAL,))
    entry.reject(reason_code=reason_code, reason=reason)
    record.changed(
        entry,
        ["status", "rejection_reason_code", "rejection_reason"],
        actor,
        payload={"reason": reason},
        reason_code=reason_code,
    )
    outbox.emit(
        "gl.journal_entry.rejected",
        {**events.journal_entry_event(entry), "reason_code": reason_code, "reason": reason},
    )
    return entry
