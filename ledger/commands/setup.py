"""Setting an entity up: the entity, its chart of accounts, its periods, FX rates.

Each is one guarded unit of work; entities, thresholds, periods and rates are the
controller's (`ledger.manage_entity`, `ledger.close_period`, `ledger.manage_fxrate`).
"""

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.utils import timezone

from ledger import money
from ledger.errors import DuplicateCode, EntityConfigurationInvalid, PeriodInvalid
from ledger.models import Account, AccountBalance, Entity, FxRate, JournalEntryLine, Period
from platform_integrity import outbox, permissions, reads, record
from platform_integrity.command import command
from platform_integrity.context import Actor
from platform_integrity.errors import NotFound, ValidationFailed
from platform_integrity.ids import as_uuid, entity_id_of
from platform_integrity.unit import current

ENTITY_ACCOUNT_ROLES = ("ap_control_account", "bank_account", "fx_gain_loss_account")


def by_entity(**kwargs: Any) -> UUID | None:
    return kwargs.get("entity_id")


def get(model, pk: Any, label: str):
    """The row of `model` with this id, or the 404 a command answers."""
    key = as_uuid(pk)
    obj = reads.by_ids(model, [key]).get(key) if key else None
    if obj is None:
        raise NotFound(f"{label} {pk} does not exist.", object_type=label, object_id=str(pk))
    return obj


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
    return record.created(
        entity,
        actor,
        payload={
            "name": name,
            "functional_currency": functional_currency,
            "approval_threshold_minor": approval_threshold_minor,
        },
    )


@command("ledger.entity_update", entity_of=by_entity)
def entity_update(actor: Actor, *, entity_id: UUID, **changes: Any) -> Entity:
    permissions.require(actor, "ledger.manage_entity", "configure entities", object_type="entity")
    entity = get(Entity, entity_id, "entity")
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
    return record.changed(entity, list(applied), actor, payload=applied)


def _carries_postings(account_id: UUID | None) -> bool:
    return (
        account_id is not None
        and JournalEntryLine.objects.filter(coa_account_id=account_id).exists()
    )


@command("ledger.account_create", entity_of=by_entity)
def account_create(actor: Actor, *, entity_id: UUID, code: str, name: str, type: str) -> Account:
    permissions.require(actor, "ledger.manage_entity", "create accounts")
    entity = get(Entity, entity_id, "entity")
    if Account.objects.filter(entity=entity, code=code).exists():
        raise DuplicateCode(
            f"Account code {code} is already used in {entity.name}.", code_value=code
        )
    account = Account(entity=entity, code=code, name=name, type=type)
    record.created(account, actor, payload={"code": code, "name": name, "type": type})
    balance = AccountBalance(
        account=account, entity=entity, currency_code=entity.functional_currency
    )
    current().changes.add(balance, actor)
    return account


@command(
    "ledger.account_set_active",
    entity_of=lambda *, account_id, **_: entity_id_of(Account, account_id),
)
def account_set_active(actor: Actor, *, account_id: UUID, active: bool) -> Account:
    permissions.require(actor, "ledger.manage_entity", "change accounts")
    account = get(Account, account_id, "account")
    account.active = active
    return record.changed(account, ["active"], actor, payload={"active": active})


@command("ledger.period_create", entity_of=by_entity)
def period_create(
    actor: Actor, *, entity_id: UUID, name: str, start_date: date, end_date: date
) -> Period:
    permissions.require(actor, "ledger.close_period", "create periods")
    entity = get(Entity, entity_id, "entity")
    if start_date > end_date:
        raise PeriodInvalid("A period cannot end before it starts.")
    if Period.objects.filter(
        entity=entity, start_date__lte=end_date, end_date__gte=start_date
    ).exists():
        raise PeriodInvalid("This period overlaps an existing period of the entity.")
    if Period.objects.filter(entity=entity, name=name).exists():
        raise PeriodInvalid(f"A period named {name} already exists.")
    period = Period(entity=entity, name=name, start_date=start_date, end_date=end_date)
    payload = {"name": name, "start_date": start_date, "end_date": end_date}
    return record.created(period, actor, payload=payload)


def _period_transition(actor: Actor, period_id: UUID, action: str, reason: str) -> Period:
    permissions.require(
        actor,
        "ledger.close_period",
        f"{action} periods",
        object_type="period",
        object_id=str(period_id),
    )
    period = get(Period, period_id, "period")
    target = Period.Status.CLOSED if action == "close" else Period.Status.OPEN
    if period.status == target:
        raise ValidationFailed(
            f"Period {period.name} is already {period.status.lower()}.",
            object_type="period",
            object_id=str(period.id),
        )
    if action == "close":
        period.close(by=actor.user)
        period.closed_at = timezone.now()
    else:
        period.reopen(by=actor.user)
    record.changed(
        period,
        ["status", "closed_at", "closed_by"],
        actor,
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


@command("ledger.period_close", entity_of=lambda *, period_id, **_: entity_id_of(Period, period_id))
def period_close(actor: Actor, *, period_id: UUID, reason: str = "") -> Period:
    return _period_transition(actor, period_id, "close", reason)


@command(
    "ledger.period_reopen", entity_of=lambda *, period_id, **_: entity_id_of(Period, period_id)
)
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
    return record.created(
        fx,
        actor,
        payload={
            "base_currency": base_currency,
            "quote_currency": quote_currency,
            "rate": str(rate),
            "as_of": as_of,
        },
    )
