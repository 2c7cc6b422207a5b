"""Bills: entered once, posted to the GL as they are entered (status OPEN)."""

import uuid
from datetime import date
from typing import Any
from uuid import UUID

from ledger.journal import Journal
from payables import events, gl, rules
from payables.commands.common import entity_kwarg, get_entity, lock, replayed
from payables.commands.vendors import move_open_balance
from payables.errors import BillNumberTaken
from payables.models import Bill, BillLine, Vendor
from platform_integrity import idempotency, outbox, permissions, record
from platform_integrity.command import command
from platform_integrity.context import Actor
from platform_integrity.unit import current


@command("payables.bill_create", entity_of=entity_kwarg)
def bill_create(
    actor: Actor,
    *,
    entity_id: UUID,
    vendor_id: UUID,
    number: str,
    currency_code: str,
    bill_date: date,
    due_date: date,
    lines: list[dict[str, Any]],
    external_id: str | None = None,
) -> Bill:
    """Enter a bill: Dr its expense lines, Cr AP control at the bill date's spot rate.

    A replayed `external_id` returns the original bill with `replayed` set.
    """
    permissions.require(actor, "payables.enter_bill", "enter bills")
    entity = get_entity(entity_id)
    request = {
        "vendor_id": str(vendor_id),
        "number": number,
        "currency_code": currency_code,
        "bill_date": bill_date,
        "due_date": due_date,
        "lines": lines,
    }
    if external_id:
        original = idempotency.recall(entity.id, "bill", external_id, request)
        if original is not None:
            return replayed(Bill, original)
    vendor = lock(Vendor, vendor_id, "vendor")
    rules.check_bill(vendor, entity.id, number, currency_code, bill_date, due_date, lines)
    if Bill.objects.filter(vendor=vendor, number=number).exists():
        raise BillNumberTaken(
            f"Vendor {vendor.name} already has a bill numbered {number}.", number=number
        )
    bill_id = uuid.uuid4()
    entry = Journal(entity).add(
        actor,
        posting_date=bill_date,
        memo=f"Bill {number} from {vendor.name}",
        lines=gl.bill_lines(entity, number, currency_code, lines),
        source_type="BILL",
        source_id=str(bill_id),
    )
    total = sum(line["amount_minor"] for line in lines)
    bill = Bill(
        id=bill_id,
        entity=entity,
        vendor=vendor,
        number=number,
        currency_code=currency_code,
        bill_date=bill_date,
        due_date=due_date,
        total_minor=total,
        balance_due_minor=total,
        functional_total_minor=entry.total_debit_minor,
        journal_entry=entry,
        created_by=actor.user,
    )
    current().changes.add_all(
        [
            BillLine(
                bill=bill,
                line_no=i + 1,
                coa_account_id=line["coa_account_id"],
                amount_minor=line["amount_minor"],
                memo=line.get("memo", ""),
            )
            for i, line in enumerate(lines)
        ],
        actor,
    )
    if external_id:
        idempotency.remember(entity.id, "bill", external_id, request, bill.id)
    move_open_balance(actor, vendor, total, {"type": "bill", "id": str(bill.id)})
    record.created(
        bill,
        actor,
        payload={
            "vendor_id": vendor.id,
            "number": number,
            "currency_code": currency_code,
            "total_minor": total,
            "journal_entry_id": entry.id,
        },
    )
    outbox.emit("bill.created", events.bill_event(bill))
    return bill
