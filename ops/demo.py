"""The demo company `make run` loads, built through the commands by `ops.factories`: two
entities with their chart and this month's period, FX rates, a login for every role,
entries (posted, and one waiting for approval) and open bills."""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from ledger import commands as gl
from ledger.models import Entity
from ops.factories import (
    BillFactory,
    Books,
    BooksFactory,
    FxRateFactory,
    JournalEntryFactory,
    UserFactory,
    VendorFactory,
)
from payables.models import Bill
from platform_integrity.context import Actor

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
class Demo:
    users: dict
    us: Books
    uk: Books
    bills: list[Bill]


def is_loaded() -> bool:
    return Entity.objects.filter(name=US_NAME).exists()


def load(today: date) -> Demo:
    users = seed_users()
    controller = Actor(user=users["dave"], channel="SYSTEM")
    for base, quote, rate in RATES:
        FxRateFactory(
            actor=controller,
            base_currency=base,
            quote_currency=quote,
            rate=Decimal(rate),
            as_of=today.replace(day=1),
        )
    us = seed_books(controller, US_NAME, "USD", 1_000_000, today)  # 10,000.00 USD
    uk = seed_books(controller, UK_NAME, "GBP", 500_000, today)  # 5,000.00 GBP
    seed_entries(users, us, uk, today)
    return Demo(users=users, us=us, uk=uk, bills=seed_payables(users, us, today))


def seed_users() -> dict:
    users = {
        username: UserFactory(username=username, roles=[role], password=password)
        for username, role, password in LOGINS
    }
    dave = users["dave"]
    dave.is_superuser = True
    dave.save(update_fields=["is_superuser"])
    return users


def seed_books(actor: Actor, name: str, currency: str, threshold_minor: int, today: date) -> Books:
    return BooksFactory(
        actor=actor,
        name=name,
        functional_currency=currency,
        approval_threshold_minor=threshold_minor,
        chart=CHART,
        period__today=today,
    )


def seed_entries(users: dict, us: Books, uk: Books, today: date) -> None:
    alice = Actor(user=users["alice"], channel="SYSTEM")
    carol = Actor(user=users["carol"], channel="SYSTEM")
    start = us.period.start_date
    dr, cr = "DEBIT", "CREDIT"

    def entry(books: Books, posting_date: date, memo: str, lines):
        return JournalEntryFactory(
            actor=alice,
            entity=books.entity,
            period=books.period,
            posting_date=posting_date,
            memo=memo,
            lines=lines,
            submitted=True,
        )

    # Above the threshold: submitted by the accountant, approved by the approver.
    for books, amount in ((us, 25_000_000), (uk, 10_000_000)):
        capital = entry(
            books,
            start,
            "Share capital paid in",
            [books.line("1000", dr, amount), books.line("3000", cr, amount)],
        )
        gl.journal_entry_approve(carol, entry_id=capital.id)

    # Under the threshold: posted on submit.
    entry(us, start, "Office rent", [us.line("6000", dr, 850_000), us.line("1000", cr, 850_000)])
    entry(
        us,
        today,
        "Accounting software, annual",
        [us.line("6300", dr, 120_000), us.line("1000", cr, 120_000)],
    )
    entry(
        us,
        today,
        "Consulting invoice 1001",
        [us.line("1100", dr, 640_000), us.line("4000", cr, 640_000)],
    )
    # A EUR expense paid from the USD bank: 900.00 EUR at 1.0850 = 976.50 USD on both
    # sides (an entry balances in each currency it is written in).
    entry(
        us,
        today,
        "Paris client visit",
        [us.line("6200", dr, 90_000, "EUR"), us.line("1000", cr, 90_000, "EUR")],
    )
    entry(
        uk,
        start,
        "London office rent",
        [uk.line("6000", dr, 320_000), uk.line("1000", cr, 320_000)],
    )

    # One waiting in the approvals queue.
    entry(
        us,
        today,
        "Team offsite, travel and venue",
        [us.line("6200", dr, 1_475_000), us.line("1000", cr, 1_475_000)],
    )


def seed_payables(users: dict, us: Books, today: date) -> list[Bill]:
    """Two vendors and three open bills, entered by the AP clerk."""
    erin = Actor(user=users["erin"], channel="SYSTEM")
    office = VendorFactory(
        actor=erin, entity=us.entity, name="Northwind Office Supply", currency_code="USD"
    )
    landlord = VendorFactory(
        actor=erin, entity=us.entity, name="Harbor Street Properties", currency_code="USD"
    )
    specs = [
        (office, "NW-4471", [("6100", 48_250, "Paper and toner")]),
        (office, "NW-4490", [("6100", 12_999, "Desk chairs"), ("6300", 4_500, "Licences")]),
        (landlord, f"HSP-{today:%Y-%m}", [("6000", 850_000, "Rent")]),
    ]
    return [
        BillFactory(
            actor=erin,
            vendor=vendor,
            number=number,
            currency_code="USD",
            bill_date=us.period.start_date,
            due_date=today + timedelta(days=30),
            lines=[
                {"coa_account_id": us.account(code).id, "amount_minor": amount, "memo": memo}
                for code, amount, memo in lines
            ],
        )
        for vendor, number, lines in specs
    ]
