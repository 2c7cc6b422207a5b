"""Shared fixtures: a USD entity with its chart of accounts and an open period,
users for every role (both made through the commands by `ops.factories`), and API
clients authenticated with real bearer tokens."""

import os
from datetime import date
from decimal import Decimal
from unittest import mock

import pytest
from django.core.cache import cache
from django.db.backends.postgresql.operations import DatabaseOperations
from django.test import override_settings
from rest_framework.test import APIClient

from ledger.models import Account, JournalEntry
from ops.factories import Books, BooksFactory, FxRateFactory, JournalEntryFactory, UserFactory
from platform_integrity.context import Actor
from platform_integrity.web.auth import issue_token
from tests.browser import base_url, browser, new_page, page  # noqa: F401  (shared fixtures)

TODAY = date(2026, 11, 21)
PERIOD_START = date(2026, 11, 1)
PERIOD_END = date(2026, 11, 30)
THRESHOLD_MINOR = 1_000_000  # 10,000.00 USD

CHART = [
    ("1000", "Cash at bank", "ASSET"),
    ("1200", "Accounts receivable", "ASSET"),
    ("2000", "Accounts payable control", "LIABILITY"),
    ("3000", "Retained earnings", "EQUITY"),
    ("4000", "Revenue", "REVENUE"),
    ("6000", "Office expenses", "EXPENSE"),
    ("6100", "Travel", "EXPENSE"),
    ("7900", "Realized FX gain/loss", "EXPENSE"),
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "browser" in item.fixturenames:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True, scope="session")
def plain_http():
    """Test servers speak plain HTTP whatever the database: CI names one, which the
    settings otherwise treat as production behind TLS. Subprocesses inherit the env."""
    os.environ["RIVANE_HTTPS"] = "0"
    with override_settings(
        SECURE_SSL_REDIRECT=False,
        SESSION_COOKIE_SECURE=False,
        CSRF_COOKIE_SECURE=False,
        SECURE_HSTS_SECONDS=0,
        SECURE_PROXY_SSL_HEADER=None,
    ):
        yield


@pytest.fixture(autouse=True, scope="session")
def flush_past_the_audit_guards():
    """Between transactional tests Django empties every table with one TRUNCATE, which the
    audit log and its chain heads refuse (migration 0009); the test run's superuser lets
    that flush skip triggers, as the owner's tampering in the tests does."""
    flush = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        flush(self, ["SET LOCAL session_replication_role = replica", *sql_list])

    with mock.patch.object(DatabaseOperations, "execute_sql_flush", execute_sql_flush):
        yield


@pytest.fixture(autouse=True)
def fresh_throttles():
    """Refused-token counts live in the process cache; each test starts with none."""
    cache.clear()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Production hashing is deliberately slow; tests create many users."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_books(
    name: str = "Rivane US Inc.",
    currency: str = "USD",
    threshold: int = THRESHOLD_MINOR,
    actor: Actor | None = None,
) -> Books:
    return BooksFactory(
        actor=actor or Actor.system(),
        name=name,
        functional_currency=currency,
        approval_threshold_minor=threshold,
        chart=CHART,
        period__name="2026-11",
        period__start_date=PERIOD_START,
        period__end_date=PERIOD_END,
    )


@pytest.fixture
def books(db) -> Books:
    return make_books()


@pytest.fixture
def gbp_rates(db):
    FxRateFactory(
        base_currency="GBP", quote_currency="USD", rate=Decimal("1.2500"), as_of=PERIOD_START
    )


def make_user(username: str, *roles: str, password: str = "correct-horse-battery"):
    return UserFactory(username=username, roles=roles, password=password)


@pytest.fixture
def users(db):
    return {
        "accountant": make_user("alice", "accountant"),
        "accountant2": make_user("bob", "accountant"),
        "approver": make_user("carol", "approver"),
        "controller": make_user("dave", "controller"),
        "ap_clerk": make_user("erin", "ap_clerk"),
        "integration": make_user("sync-bot", "integration"),
        "preparer_approver": make_user("pat", "accountant", "approver"),
    }


def client_for(user, ip: str = "203.0.113.7") -> APIClient:
    client = APIClient(REMOTE_ADDR=ip)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(user)}")
    return client


@pytest.fixture
def api(users):
    """API clients by role name, each with its own bearer token."""
    return {role: client_for(user) for role, user in users.items()}


def line(account: Account, direction: str, amount_minor: int, currency: str = "USD", **extra):
    return {
        "coa_account_id": str(account.id),
        "direction": direction,
        "amount_minor": amount_minor,
        "currency_code": currency,
        **extra,
    }


def entry_body(books: Books, lines: list[dict], **extra) -> dict:
    return {
        "entity_id": str(books.entity.id),
        "period_id": str(books.period.id),
        "posting_date": TODAY.isoformat(),
        "memo": "Test entry",
        "lines": lines,
        **extra,
    }


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert {"type", "title", "detail", "instance"} <= body.keys()
    return body


def assert_invariants_hold() -> None:
    from platform_integrity.integrity import run_all

    violations = {name: found for name, found in run_all().items() if found}
    assert violations == {}


def posted_entry(books: Books, amount_minor: int, preparer=None) -> JournalEntry:
    """A small entry under the threshold, created and submitted (so posted) through commands."""
    return JournalEntryFactory(
        actor=Actor(user=preparer or make_user("poster", "accountant"), channel="API"),
        entity=books.entity,
        period=books.period,
        posting_date=TODAY,
        lines=[
            books.line("6000", "DEBIT", amount_minor, "USD"),
            books.line("1000", "CREDIT", amount_minor, "USD"),
        ],
        submitted=True,
    )


@pytest.fixture(autouse=True, scope="session")
def close_waiting_connections(django_db_setup):
    """The main thread's waiting connection (`platform_integrity.turns`) would otherwise
    outlive the test database."""
    yield
    from platform_integrity import turns

    turns.close()
