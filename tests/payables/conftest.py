"""Payables fixtures: books whose open period covers today (payments post today),
a vendor, users for each door, and helpers that go through the real commands."""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from ops import factories
from payables.models import Bill, Vendor
from platform_integrity.context import Actor
from platform_integrity.web.auth import issue_token

CHART = [
    ("1000", "Cash at bank", "ASSET"),
    ("2000", "Accounts payable control", "LIABILITY"),
    ("6000", "Office expenses", "EXPENSE"),
    ("6100", "Travel", "EXPENSE"),
    ("7900", "Realized FX gain/loss", "EXPENSE"),
]


def today() -> date:
    return timezone.localdate()


@dataclass
class Books(factories.Books):
    """The entity's books, its vendor, and a user for each door."""

    vendor: Vendor
    users: dict = field(default_factory=dict)

    def actor(self, role: str, channel: str, ip: str | None = "198.51.100.20") -> Actor:
        return Actor(user=self.users[role], channel=channel, ip=ip)


def make_books(currency: str = "USD", vendor_currency: str | None = None) -> Books:
    books = factories.BooksFactory(
        name=f"Rivane {currency}",
        functional_currency=currency,
        approval_threshold_minor=0,
        chart=CHART,
        period__name="current",
        period__start_date=today() - timedelta(days=120),
        period__end_date=today() + timedelta(days=120),
    )
    password = "correct-horse-battery"
    users = {
        "clerk": factories.UserFactory(username="erin", roles=["ap_clerk"], password=password),
        "integration": factories.UserFactory(username="sync-bot", roles=["integration"]),
        "controller": factories.UserFactory(
            username="dave", roles=["controller"], password=password
        ),
    }
    vendor = factories.VendorFactory(
        actor=Actor(users["clerk"], "API"),
        entity=books.entity,
        name="Acme Supplies",
        currency_code=vendor_currency or currency,
    )
    return Books(
        entity=books.entity,
        period=books.period,
        accounts=books.accounts,
        vendor=vendor,
        users=users,
    )


def make_bill(
    books: Books,
    total_minor: int = 125_000,
    *,
    number: str = "INV-1",
    vendor: Vendor | None = None,
    bill_date: date | None = None,
    currency: str | None = None,
) -> Bill:
    vendor = vendor or books.vendor
    return factories.BillFactory(
        actor=books.actor("clerk", "API"),
        entity=books.entity,
        vendor=vendor,
        number=number,
        currency_code=currency or vendor.currency_code,
        bill_date=bill_date or today(),
        lines=[
            {"coa_account_id": books.account("6000").id, "amount_minor": total_minor - 100},
            {"coa_account_id": books.account("6100").id, "amount_minor": 100, "memo": "taxi"},
        ],
    )


def fx_rate(base: str, quote: str, rate: str, as_of: date) -> None:
    factories.FxRateFactory(
        base_currency=base, quote_currency=quote, rate=Decimal(rate), as_of=as_of
    )


def api_client(user, ip: str = "203.0.113.7") -> APIClient:
    client = APIClient(REMOTE_ADDR=ip)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(user)}")
    return client


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code
    return body


def assert_invariants_hold() -> None:
    from platform_integrity.integrity import run_all

    assert {name: found for name, found in run_all().items() if found} == {}


@pytest.fixture
def books(transactional_db) -> Books:
    return make_books()


@pytest.fixture
def bill(books) -> Bill:
    return make_bill(books)


@pytest.fixture
def integration_api(books) -> APIClient:
    return api_client(books.users["integration"])


@pytest.fixture(autouse=True)
def eager_celery():
    """Tasks run in the calling process unless a test starts a real worker."""
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False
