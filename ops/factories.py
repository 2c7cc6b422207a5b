"""factory-boy factories for the objects of a company's books.

Each object is made by the command that makes it in the product, as the actor given
(`Actor.system()` unless told; for an entry, a new accountant), so permissions, audit
rows, history, events and balances are the real ones; nothing here writes a model. The
demo company, the benchmark's books and the tests' fixtures are all built from these.
"""

import calendar
from dataclasses import dataclass
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from ledger import commands as gl
from ledger.lines import LineInput
from ledger.models import Account, Entity, FxRate, JournalEntry, Period
from payables import commands as ap
from payables.models import Bill, Vendor
from platform_integrity.accounts import user_with_role
from platform_integrity.context import Actor

BANK, AP_CONTROL, FX_GAIN_LOSS = "1000", "2000", "7900"

# The least chart an entity pays bills from: the accounts its entity names, and an expense.
CHART = [
    (BANK, "Cash at bank", "ASSET"),
    (AP_CONTROL, "Accounts payable control", "LIABILITY"),
    ("6000", "Office expenses", "EXPENSE"),
    (FX_GAIN_LOSS, "Realized FX gain/loss", "EXPENSE"),
]


@dataclass
class Books:
    """An entity, its open period and its accounts by code."""

    entity: Entity
    period: Period
    accounts: dict[str, Account]

    def account(self, code: str) -> Account:
        return self.accounts[code]

    def line(self, code: str, direction: str, amount_minor: int, currency: str = "") -> LineInput:
        return LineInput(
            account_id=self.accounts[code].id,
            direction=direction,
            amount_minor=amount_minor,
            currency_code=currency or self.entity.functional_currency,
        )


class UserFactory(factory.Factory):
    """A user holding `roles`, made as `create_user` makes one (an existing user gains them)."""

    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user-{n}")
    roles = ("accountant",)
    password = None

    @classmethod
    def _create(cls, model_class, *, username, roles, password):
        user = None
        for role in roles:
            user = user_with_role(username, role, password)
        return user


class EntityFactory(factory.Factory):
    class Meta:
        model = Entity

    actor = factory.LazyFunction(Actor.system)
    name = factory.Sequence(lambda n: f"Entity {n}")
    functional_currency = "USD"
    approval_threshold_minor = 1_000_000

    @classmethod
    def _create(cls, model_class, *, actor, **fields):
        return gl.entity_create(actor, **fields)


class AccountFactory(factory.Factory):
    class Meta:
        model = Account

    actor = factory.LazyFunction(Actor.system)
    code = factory.Sequence(lambda n: f"{6000 + n}")
    name = factory.LazyAttribute(lambda o: f"Account {o.code}")
    type = "EXPENSE"

    @classmethod
    def _create(cls, model_class, *, actor, entity, **fields):
        return gl.account_create(actor, entity_id=entity.id, **fields)


class PeriodFactory(factory.Factory):
    """The month of `today` unless told otherwise."""

    class Meta:
        model = Period

    class Params:
        today = factory.LazyFunction(timezone.localdate)

    actor = factory.LazyFunction(Actor.system)
    name = factory.LazyAttribute(lambda o: o.today.strftime("%Y-%m"))
    start_date = factory.LazyAttribute(lambda o: o.today.replace(day=1))
    end_date = factory.LazyAttribute(
        lambda o: o.today.replace(day=calendar.monthrange(o.today.year, o.today.month)[1])
    )

    @classmethod
    def _create(cls, model_class, *, actor, entity, **fields):
        return gl.period_create(actor, entity_id=entity.id, **fields)


class BooksFactory(factory.Factory):
    """An entity with its chart, its bank, AP control and FX gain/loss accounts named, and
    an open period: `PeriodFactory`'s, set through `period__name=...`, `period__today=...`."""

    class Meta:
        model = Books

    actor = factory.LazyFunction(Actor.system)
    name = factory.Sequence(lambda n: f"Rivane {n}")
    functional_currency = "USD"
    approval_threshold_minor = 1_000_000
    chart = CHART
    period = factory.Dict({})

    @classmethod
    def _create(cls, model_class, *, actor, chart, period, **entity):
        made = EntityFactory(actor=actor, **entity)
        accounts = {
            code: AccountFactory(actor=actor, entity=made, code=code, name=name, type=kind)
            for code, name, kind in chart
        }
        made = gl.entity_update(
            actor,
            entity_id=made.id,
            ap_control_account_id=accounts[AP_CONTROL].id,
            bank_account_id=accounts[BANK].id,
            fx_gain_loss_account_id=accounts[FX_GAIN_LOSS].id,
        )
        return model_class(
            entity=made, period=PeriodFactory(actor=actor, entity=made, **period), accounts=accounts
        )


class FxRateFactory(factory.Factory):
    """1 `base_currency` = `rate` `quote_currency` on `as_of`."""

    class Meta:
        model = FxRate

    actor = factory.LazyFunction(Actor.system)
    as_of = factory.LazyFunction(timezone.localdate)

    @classmethod
    def _create(cls, model_class, *, actor, **fields):
        return gl.fx_rate_create(actor, **fields)


class JournalEntryFactory(factory.Factory):
    """A draft of `lines` (`LineInput`s), prepared by a new accountant unless told otherwise;
    with `submitted`, then submitted by the same actor, so it posts under the entity's
    threshold and waits for approval above it."""

    class Meta:
        model = JournalEntry

    # An entry is always some user's: the system prepares none.
    actor = factory.LazyFunction(lambda: Actor(user=UserFactory(), channel="API"))
    posting_date = factory.LazyFunction(timezone.localdate)
    submitted = False

    @classmethod
    def _create(cls, model_class, *, actor, entity, period, submitted, **fields):
        entry = gl.journal_entry_create(actor, entity_id=entity.id, period_id=period.id, **fields)
        if submitted:
            entry = gl.journal_entry_submit(actor, entry_id=entry.id)
        return entry


class VendorFactory(factory.Factory):
    """A vendor billing in its entity's currency unless told otherwise."""

    class Meta:
        model = Vendor

    actor = factory.LazyFunction(Actor.system)
    name = factory.Sequence(lambda n: f"Vendor {n}")
    currency_code = factory.LazyAttribute(lambda o: o.entity.functional_currency)

    @classmethod
    def _create(cls, model_class, *, actor, entity, **fields):
        return ap.vendor_create(actor, entity_id=entity.id, **fields)


class BillFactory(factory.Factory):
    """A bill of `lines` (dicts of `coa_account_id`, `amount_minor`, `memo`), posted to the
    GL on entry; dated today and due in 30 days unless told otherwise."""

    class Meta:
        model = Bill

    actor = factory.LazyFunction(Actor.system)
    entity = factory.LazyAttribute(lambda o: o.vendor.entity)
    number = factory.Sequence(lambda n: f"INV-{n}")
    currency_code = factory.LazyAttribute(lambda o: o.vendor.currency_code)
    bill_date = factory.LazyFunction(timezone.localdate)
    due_date = factory.LazyAttribute(lambda o: o.bill_date + timedelta(days=30))

    @classmethod
    def _create(cls, model_class, *, actor, entity, vendor, **fields):
        return ap.bill_create(actor, entity_id=entity.id, vendor_id=vendor.id, **fields)
