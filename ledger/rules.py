"""Who may do what with a journal entry: written once, read by the commands (which refuse)
and by the screens (which offer only what the commands would accept)."""

from ledger.models import JournalEntry

PREPARE = "ledger.prepare_journalentry"
SUPERVISE = "ledger.supervise_journalentry"
APPROVE = "ledger.approve_journalentry"


def took_part(user_id: int, entry: JournalEntry) -> bool:
    """Prepared, edited or submitted it: such a user can never be its approver."""
    return user_id in (entry.prepared_by_id, entry.submitted_by_id, *entry.contributor_ids)


def may_handle(user, entry: JournalEntry) -> bool:
    """Edit, submit or void: the preparer, or a supervisor for another preparer's entry."""
    return user.has_perm(PREPARE) and (entry.prepared_by_id == user.pk or user.has_perm(SUPERVISE))


def may_approve(user, entry: JournalEntry) -> bool:
    return user.has_perm(APPROVE) and not took_part(user.pk, entry)
