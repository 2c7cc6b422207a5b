"""Payloads of the ledger's events (written to the outbox inside the command)."""

from typing import Any

from ledger.models import JournalEntry


def journal_entry_event(entry: JournalEntry) -> dict[str, Any]:
    return {
        "journal_entry_id": str(entry.id),
        "entity_id": str(entry.entity_id),
        "external_id": entry.external_id,
        "status": entry.status,
        "posting_date": entry.posting_date.isoformat(),
        "total_debit_minor": entry.total_debit_minor,
        "currency_code": entry.functional_currency_code,
        "line_count": entry.line_count,
        "prepared_by": entry.prepared_by_id,
        "approved_by": entry.approved_by_id,
        "source_type": entry.source_type,
        "source_id": entry.source_id,
    }
