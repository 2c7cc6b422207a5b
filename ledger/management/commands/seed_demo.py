"""Load a small demo company through the commands (used by `make run`).

Idempotent: when "Rivane Demo US Inc." exists it prints the logins again and stops.
"""

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.utils import timezone

from ledger import commands
from ledger.lines import LineInput
from ledger.models import Account, Entity, JournalEntry, Period
from payables import commands as payables_commands
from platform_integrity.accounts import user_with_role
from platform_integrity.context import Actor
from platform_integrity.web.auth import issue_token

US_NAME = "Rivane Demo US Inc."
UK_NAME = "Rivane Demo UK Ltd"

# (username, role, password): demo credentials, printed on every run.
LOGINS = [
    ("alice", "accountant", "alice-rivane-demo"),
    ("carol", "approver", "carol-rivane-demo"),
    ("dave", "controller", "dave-rivane-demo"),
    ("erin", "ap_clerk", "erin-rivane-demo"),
    ("sync-bot", "integration", "sync-bot-rivane-demo"),
]

CHART = [
    ("1000", "Cash at bank", "ASSET"),
    ("1100", "Accounts receivable", "ASSET"),
    ("2000", "Accounts payable control", "LIABILITY"),
    ("3000", "Share capital", "EQUITY"),
    ("3100", "Retained earnings", "EQUITY"),
    ("4000", "Revenue", "REVENUE"),
    ("6000", "Rent", "EXPENSE"),
    ("6100", "Office supplies", "EXPENSE"),
    ("6200", "Travel", "EXPENSE"),
    ("6300", "Software subscriptions", "EXPENSE"),
    ("7900", "Realized FX gain/loss", "EXPENSE"),
]

# 1 base = rate quote, dated at the start of the month.
RATES = [
    ("GBP", "USD", "1.2650"),
    ("EUR", "USD", "1.0850"),
    ("EUR", "GBP", "0.8580"),
    ("JPY", "USD", "0.0066"),
]


@dataclass
class Books:
    entity: Entity
    period: Period
    accounts: dict[str, Account]

    def line(self, code: str, direction: str, amount_minor: int, currency: str = "") -> LineInput:
        return LineInput(
            account_id=self.accounts[code].id,
            direction=direction,
            amount_minor=amount_minor,
            currency_code=currency or self.entity.functional_currency,
        )


class Command(BaseCommand):
    help = "Load the demo company (two entities, chart, period, rates, users, entries, bills)."

    def handle(self, **options) -> None:
        if Entity.objects.filter(name=US_NAME).exists():
            self.stdout.write(f"The demo company ({US_NAME}) is already loaded.")
            self.print_logins(token=None)
            return

        users = seed_users()
        controller = Actor(user=users["dave"], channel="SYSTEM")
        today = timezone.localdate()
        month_start = today.replace(day=1)
        seed_rates(controller, month_start)
        us = seed_books(controller, US_NAME, "USD", 1_000_000, today)  # 10,000.00 USD
        uk = seed_books(controller, UK_NAME, "GBP", 500_000, today)  # 5,000.00 GBP
        seed_entries(users, us, uk, today)
        bills = seed_payables(users, us, today)
        token = issue_token(users["sync-bot"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo company loaded: {US_NAME} (USD) and {UK_NAME} (GBP), "
                f"period {us.period.name}, {len(bills)} open bills."
            )
        )
        self.print_logins(token=token)

    def print_logins(self, token: str | None) -> None:
        self.stdout.write("Sign in at /accounts/login/ with:")
        for username, role, password in LOGINS:
            self.stdout.write(f"  {role:<12} {username:<9} password: {password}")
        self.stdout.write("  (dave is also a superuser: /admin/ shows users and roles)")
        if token:
            self.stdout.write(f"API token for sync-bot (Authorization: Bearer …): {token}")
        else:
            self.stdout.write(
                "API token for sync-bot: printed when the demo was first loaded; issue a new one "
                "with `python manage.py create_user sync-bot --role integration --token`."
            )


def seed_users() -> dict:
    users = {
        username: user_with_role(username, role, password) for username, role, password in LOGINS
    }
    dave = users["dave"]
    dave.is_superuser = True
    dave.save(update_fields=["is_superuser"])
    return users


def seed_rates(actor: Actor, as_of: date) -> None:
    for base, quote, rate in RATES:
        commands.fx_rate_create(
            actor, base_currency=base, quote_currency=quote, rate=Decimal(rate), as_of=as_of
        )


def seed_books(actor: Actor, name: str, currency: str, threshold_minor: int, today: date) -> Books:
    entity = commands.entity_create(
        actor, name=name, functional_currency=currency, approval_threshold_minor=threshold_minor
    )
    accounts = {
        code: commands.account_create(actor, entity_id=entity.id, code=code, name=label, type=kind)
        for code, label, kind in CHART
    }
    entity = commands.entity_update(
        actor,
        entity_id=entity.id,
        ap_control_account_id=accounts["2000"].id,
        bank_account_id=accounts["1000"].id,
        fx_gain_loss_account_id=accounts["7900"].id,
    )
    last_day = calendar.monthrange(today.year, today.month)[1]
    period = commands.period_create(
        actor,
        entity_id=entity.id,
        name=today.strftime("%Y-%m"),
        start_date=today.replace(day=1),
        end_date=today.replace(day=last_day),
    )
    return Books(entity=entity, period=period, accounts=accounts)


def _entry(preparer: Actor, books: Books, posting_date: date, memo: str, lines) -> JournalEntry:
    entry = commands.journal_entry_create(
        preparer,
        entity_id=books.entity.id,
        period_id=books.period.id,
        posting_date=posting_date,
        memo=memo,
        lines=lines,
    )
    return commands.journal_entry_submit(preparer, entry_id=entry.id)


def seed_entries(users: dict, us: Books, uk: Books, today: date) -> None:
    alice = Actor(user=users["alice"], channel="SYSTEM")
    carol = Actor(user=users["carol"], channel="SYSTEM")
    start = us.period.start_date
    dr, cr = "DEBIT", "CREDIT"

    # Above the threshold: submitted by the accountant, approved by the approver.
    for books, amount in ((us, 25_000_000), (uk, 10_000_000)):
        capital = _entry(
            alice,
            books,
            start,
            "Share capital paid in",
            [books.line("1000", dr, amount), books.line("3000", cr, amount)],
        )
        commands.journal_entry_approve(carol, entry_id=capital.id)

    # Under the threshold: posted on submit.
    _entry(
        alice,
        us,
        start,
        "Office rent",
        [us.line("6000", dr, 850_000), us.line("1000", cr, 850_000)],
    )
    _entry(
        alice,
        us,
        today,
        "Accounting software, annual",
        [us.line("6300", dr, 120_000), us.line("1000", cr, 120_000)],
    )
    _entry(
        alice,
        us,
        today,
        "Consulting invoice 1001",
        [us.line("1100", dr, 640_000), us.line("4000", cr, 640_000)],
    )
    # A EUR expense paid from the USD bank: 900.00 EUR at 1.0850 = 976.50 USD on both
    # sides (an entry balances in each currency it is written in).
    _entry(
        alice,
        us,
        today,
        "Paris client visit",
        [us.line("6200", dr, 90_000, "EUR"), us.line("1000", cr, 90_000, "EUR")],
    )
    _entry(
        alice,
        uk,
        start,
        "London office rent",
        [uk.line("6000", dr, 320_000), uk.line("1000", cr, 320_000)],
    )

    # One waiting in the approvals queue.
    _entry(
        alice,
        us,
        today,
        "Team offsite, travel and venue",
        [us.line("6200", dr, 1_475_000), us.line("1000", cr, 1_475_000)],
    )


def seed_payables(users: dict, us: Books, today: date) -> list:
    """Two vendors and three open bills, entered by the AP clerk through the payables commands."""
    erin = Actor(user=users["erin"], channel="SYSTEM")
    office = payables_commands.vendor_create(
        erin, entity_id=us.entity.id, name="Northwind Office Supply", currency_code="USD"
    )
    landlord = payables_commands.vendor_create(
        erin, entity_id=us.entity.id, name="Harbor Street Properties", currency_code="USD"
    )
    bill_date = us.period.start_date
    due = today + timedelta(days=30)
    specs = [
        (office, "NW-4471", [("6100", 48_250, "Paper and toner")]),
        (office, "NW-4490", [("6100", 12_999, "Desk chairs"), ("6300", 4_500, "Licences")]),
        (landlord, f"HSP-{today:%Y-%m}", [("6000", 850_000, "Rent")]),
    ]
    return [
        payables_commands.bill_create(
            erin,
            entity_id=us.entity.id,
            vendor_id=vendor.id,
            number=number,
            currency_code="USD",
            bill_date=bill_date,
            due_date=due,
            lines=[
                {"coa_account_id": us.accounts[code].id, "amount_minor": amount, "memo": memo}
                for code, amount, memo in lines
            ],
        )
        for vendor, number, lines in specs
    ]
