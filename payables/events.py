"""Event payloads, written to the outbox inside the command that caused them."""

from typing import Any

from payables.models import Bill, Payment, Vendor


def payment_event(payment: Payment, bill: Bill) -> dict[str, Any]:
    return {
        "payment_id": str(payment.id),
        "bill_id": str(bill.id),
        "entity_id": str(payment.entity_id),
        "vendor_id": str(bill.vendor_id),
        "amount_minor": payment.amount_minor,
        "currency_code": payment.currency_code,
        "channel": payment.channel,
        "external_id": payment.external_id,
        "status": payment.status,
        "bill_balance_due_minor": bill.balance_due_minor,
        "bill_status": bill.status,
        "journal_entry_id": str(payment.journal_entry_id) if payment.journal_entry_id else None,
    }


def bill_event(bill: Bill) -> dict[str, Any]:
    return {
        "bill_id": str(bill.id),
        "entity_id": str(bill.entity_id),
        "vendor_id": str(bill.vendor_id),
        "number": bill.number,
        "total_minor": bill.total_minor,
        "currency_code": bill.currency_code,
        "journal_entry_id": str(bill.journal_entry_id),
    }


def vendor_balance_event(vendor: Vendor, delta_minor: int, cause: dict[str, Any]) -> dict[str, Any]:
    """`balance.updated` for a vendor's open balance (GL balances carry `account_id` instead)."""
    return {
        "balance": "vendor.open_balance",
        "vendor_id": str(vendor.id),
        "entity_id": str(vendor.entity_id),
        "balance_minor": vendor.open_balance_minor,
        "delta_minor": delta_minor,
        "currency_code": vendor.currency_code,
        "version": vendor.version,
        "cause": cause,
    }
