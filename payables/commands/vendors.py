"""Vendors, and the running total of what each is owed."""

from typing import Any
from uuid import UUID

from ledger import money
from payables import events
from payables.commands.common import entity_kwarg, get_entity, replayed
from payables.errors import VendorInvalid
from payables.models import Vendor
from platform_integrity import idempotency, outbox, permissions, record
from platform_integrity.command import command
from platform_integrity.context import Actor
from platform_integrity.unit import current


@command("payables.vendor_create", entity_of=entity_kwarg)
def vendor_create(
    actor: Actor,
    *,
    entity_id: UUID,
    name: str,
    currency_code: str,
    external_id: str | None = None,
) -> Vendor:
    """A vendor; a replayed `external_id` returns the original with `replayed` set."""
    permissions.require(actor, "payables.manage_vendor", "create vendors")
    entity = get_entity(entity_id)
    request = {"name": name, "currency_code": currency_code}
    if external_id:
        original = idempotency.recall(entity.id, "vendor", external_id, request)
        if original is not None:
            return replayed(Vendor, original)
    money.exponent(currency_code)
    if not name.strip():
        raise VendorInvalid("A vendor needs a name.", field="name")
    vendor = Vendor(entity=entity, name=name.strip(), currency_code=currency_code)
    if external_id:
        idempotency.remember(entity.id, "vendor", external_id, request, vendor.id)
    payload = {"entity_id": entity.id, "name": vendor.name, "currency_code": currency_code}
    return record.created(vendor, actor, payload=payload)


def move_open_balance(actor: Actor, vendor: Vendor, delta: int, cause: dict[str, Any]) -> None:
    """Move a locked vendor's open balance: one change, its own version and event."""
    current().changes.move(vendor, delta, actor)
    outbox.emit("balance.updated", events.vendor_balance_event(vendor, delta, cause))
