"""Who may call what under /v1/: the whole role matrix in one table, every cell tested.

From the spec (§1, §7): entities (and their chart of accounts and thresholds), periods
(create, close, reopen) and FX rates are the controller's alone; an accountant prepares
and submits journal entries; an approver approves or rejects them; an AP clerk enters
bills and pays; an integration prepares entries, enters vendors and bills and pays,
nothing more (it polls the event feed, but the audit log is the controller's to read).
Reads follow the work: finance roles read the ledger, payables roles read payables.

An allowed cell must succeed with the operation's own status (objects are built for
every cell so that the request is valid); a refused cell is exactly 403
`permission_denied` with nothing written. Without a token, or with a token nobody was
issued, every endpoint answers 401.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from ledger import commands as ledger
from ledger.lines import LineInput
from ledger.models import (
    Account,
    AccountBalance,
    Entity,
    FxRate,
    JournalEntry,
    JournalEntryLine,
    Period,
)
from ops.factories import BooksFactory, VendorFactory
from payables import commands as payables
from payables.models import Bill, Payment, PaymentRun, PaymentRunItem, Vendor
from platform_integrity.context import Actor
from platform_integrity.errors import PermissionDenied
from platform_integrity.models import AuditEvent, IdempotencyKey, OutboxEvent
from platform_integrity.roles import ROLES
from platform_integrity.web.auth import issue_token
from tests.conftest import assert_problem, make_user

ACCOUNTANT, APPROVER, CONTROLLER, AP_CLERK, INTEGRATION = (
    "accountant",
    "approver",
    "controller",
    "ap_clerk",
    "integration",
)
ALL = (ACCOUNTANT, APPROVER, CONTROLLER, AP_CLERK, INTEGRATION)
LEDGER_READERS = (ACCOUNTANT, APPROVER, CONTROLLER, INTEGRATION)
PREPARERS = (ACCOUNTANT, CONTROLLER, INTEGRATION)
APPROVERS = (APPROVER, CONTROLLER)
PAYABLES_READERS = (CONTROLLER, AP_CLERK, INTEGRATION)
PAYERS = (AP_CLERK, INTEGRATION)


def allow(*roles: str) -> dict[str, bool]:
    return {role: role in roles for role in ALL}


MATRIX: dict[tuple[str, str], dict[str, bool]] = {
    # Entities, their configuration and chart of accounts: the controller's alone.
    ("GET", "/v1/entities"): allow(*ALL),
    ("POST", "/v1/entities"): allow(CONTROLLER),
    ("GET", "/v1/entities/{entity}"): allow(*ALL),
    ("PATCH", "/v1/entities/{entity}"): allow(CONTROLLER),
    ("GET", "/v1/entities/{entity}/trial-balance"): allow(*LEDGER_READERS),
    ("GET", "/v1/accounts"): allow(*LEDGER_READERS),
    ("POST", "/v1/accounts"): allow(CONTROLLER),
    ("GET", "/v1/accounts/{account}"): allow(*LEDGER_READERS),
    ("GET", "/v1/accounts/{account}/balance"): allow(*LEDGER_READERS),
    # Periods: the controller creates, closes and reopens them.
    ("GET", "/v1/periods"): allow(*LEDGER_READERS),
    ("POST", "/v1/periods"): allow(CONTROLLER),
    ("GET", "/v1/periods/{period}"): allow(*LEDGER_READERS),
    ("POST", "/v1/periods/{period}/close"): allow(CONTROLLER),
    ("POST", "/v1/periods/{open_period}/reopen"): allow(CONTROLLER),
    # FX rates: the controller records them.
    ("GET", "/v1/fx-rates"): allow(ACCOUNTANT, CONTROLLER, INTEGRATION),
    ("POST", "/v1/fx-rates"): allow(CONTROLLER),
    # Journal entries: preparers prepare, submit, void and reverse; approvers decide.
    ("GET", "/v1/journal-entries"): allow(*LEDGER_READERS),
    ("POST", "/v1/journal-entries"): allow(*PREPARERS),
    ("GET", "/v1/journal-entries/{entry}"): allow(*LEDGER_READERS),
    ("PATCH", "/v1/journal-entries/{own_draft}"): allow(*PREPARERS),
    ("POST", "/v1/journal-entries/{own_draft}/submit"): allow(*PREPARERS),
    ("POST", "/v1/journal-entries/{pending}/approve"): allow(*APPROVERS),
    ("POST", "/v1/journal-entries/{pending}/reject"): allow(*APPROVERS),
    ("POST", "/v1/journal-entries/{own_draft}/void"): allow(*PREPARERS),
    ("POST", "/v1/journal-entries/{entry}/reverse"): allow(*PREPARERS),
    # Payables: AP clerks and integrations enter vendors and bills and pay.
    ("GET", "/v1/vendors"): allow(*PAYABLES_READERS),
    ("POST", "/v1/vendors"): allow(*PAYERS),
    ("GET", "/v1/vendors/{vendor}"): allow(*PAYABLES_READERS),
    ("GET", "/v1/bills"): allow(*PAYABLES_READERS),
    ("POST", "/v1/bills"): allow(*PAYERS),
    ("GET", "/v1/bills/{bill}"): allow(*PAYABLES_READERS),
    ("GET", "/v1/payments"): allow(*PAYABLES_READERS),
    ("POST", "/v1/payments"): allow(*PAYERS),
    ("GET", "/v1/payments/{payment}"): allow(*PAYABLES_READERS),
    ("POST", "/v1/payments/{payment}/post"): allow(*PAYERS),
    ("POST", "/v1/payments/{payment}/void"): allow(*PAYERS),
    ("POST", "/v1/payment-sync-runs"): allow(*PAYERS),
    ("GET", "/v1/payment-sync-runs/{sync_run}"): allow(*PAYABLES_READERS),
    ("POST", "/v1/payment-batch-runs"): allow(*PAYERS),
    ("GET", "/v1/payment-batch-runs/{batch_run}"): allow(*PAYABLES_READERS),
    # Platform: the audit log is the controller's; integrations poll the event feed.
    ("GET", "/v1/audit-events"): allow(CONTROLLER),
    ("GET", "/v1/events"): allow(CONTROLLER, INTEGRATION),
    ("GET", "/v1/platform/contention"): allow(CONTROLLER, INTEGRATION),
}


# The world every cell starts from --------------------------------------------------

THRESHOLD_MINOR = 1_000_000


def today() -> date:
    return timezone.localdate()


@dataclass
class World:
    """One entity with its chart, an open period around today (payments post today), a
    vendor, and a user with a real bearer token for every role, plus `preparer`, an
    accountant whose entries the other roles act on."""

    entity: Entity
    period: Period
    accounts: dict[str, Account]
    vendor: Vendor
    users: dict[str, Any]
    tokens: dict[str, str] = field(default_factory=dict)
    _numbers: int = 0

    def account(self, code: str) -> Account:
        return self.accounts[code]

    def client(self, role: str) -> APIClient:
        client = APIClient(REMOTE_ADDR="203.0.113.9")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.tokens[role]}")
        return client

    def actor(self, role: str) -> Actor:
        return Actor(user=self.users[role], channel="API", ip="203.0.113.9")

    def next_number(self) -> str:
        self._numbers += 1
        return f"INV-{self._numbers}"


def make_world(prefix: str = "m") -> World:
    books = BooksFactory(
        name=f"Rivane {prefix}",
        approval_threshold_minor=THRESHOLD_MINOR,
        period__name="current",
        period__start_date=today() - timedelta(days=60),
        period__end_date=today() + timedelta(days=60),
    )
    users = {role: make_user(f"{prefix}-{role}", role) for role in ROLES}
    users["preparer"] = make_user(f"{prefix}-preparer", ACCOUNTANT)
    vendor = VendorFactory(entity=books.entity, name="Acme Supplies", currency_code="USD")
    world = World(
        entity=books.entity,
        period=books.period,
        accounts=books.accounts,
        vendor=vendor,
        users=users,
    )
    world.tokens = {role: issue_token(user) for role, user in users.items()}
    return world


def entry_lines(world: World, amount_minor: int) -> list[LineInput]:
    return [
        LineInput(world.account("6000").id, "DEBIT", amount_minor, "USD"),
        LineInput(world.account("1000").id, "CREDIT", amount_minor, "USD"),
    ]


def entry_request(world: World, amount_minor: int = 2_500, **extra) -> dict:
    return {
        "entity_id": str(world.entity.id),
        "period_id": str(world.period.id),
        "posting_date": today().isoformat(),
        "memo": "Matrix entry",
        "lines": [
            {
                "coa_account_id": str(world.account("6000").id),
                "direction": "DEBIT",
                "amount_minor": amount_minor,
                "currency_code": "USD",
            },
            {
                "coa_account_id": str(world.account("1000").id),
                "direction": "CREDIT",
                "amount_minor": amount_minor,
                "currency_code": "USD",
            },
        ],
        **extra,
    }


def draft_by(world: World, user, amount_minor: int = 2_500) -> JournalEntry:
    return ledger.journal_entry_create(
        Actor(user=user, channel="API"),
        entity_id=world.entity.id,
        period_id=world.period.id,
        posting_date=today(),
        lines=entry_lines(world, amount_minor),
    )


def submitted_by_preparer(world: World, amount_minor: int) -> JournalEntry:
    entry = draft_by(world, world.users["preparer"], amount_minor)
    return ledger.journal_entry_submit(Actor(world.users["preparer"], "API"), entry_id=entry.id)


def open_bill(world: World, amount_minor: int = 40_000) -> Bill:
    return payables.bill_create(
        world.actor(AP_CLERK),
        entity_id=world.entity.id,
        vendor_id=world.vendor.id,
        number=world.next_number(),
        currency_code="USD",
        bill_date=today(),
        due_date=today() + timedelta(days=30),
        lines=[{"coa_account_id": world.account("6000").id, "amount_minor": amount_minor}],
    )


def submitted_payment(world: World) -> Payment:
    bill = open_bill(world)
    return payables.payment_submit(
        world.actor(AP_CLERK),
        bill_id=bill.id,
        amount_minor=bill.total_minor,
        currency_code="USD",
    )


def payment_run(world: World, kind: str) -> PaymentRun:
    bill = open_bill(world)
    items = [{"bill_id": str(bill.id)}]
    if kind == PaymentRun.Kind.SYNC:
        items = [{**items[0], "amount_minor": 100, "currency_code": "USD", "external_id": "s-1"}]
    return payables.payment_run_create(
        world.actor(AP_CLERK), kind=kind, entity_id=world.entity.id, items=items
    )


def closed_period(world: World) -> Period:
    start = today() + timedelta(days=61)
    period = ledger.period_create(
        Actor.system(),
        entity_id=world.entity.id,
        name="next",
        start_date=start,
        end_date=start + timedelta(days=27),
    )
    return ledger.period_close(Actor.system(), period_id=period.id)


def own_draft(world: World, role: str) -> JournalEntry:
    """A draft of the acting user when its roles prepare entries, else the preparer's."""
    user = world.users[role]
    return draft_by(world, user if role in PREPARERS else world.users["preparer"])


# The objects a path names: each built fresh for the cell that asks for it.
PATH_OBJECTS: dict[str, Callable[[World, str], Any]] = {
    "entity": lambda w, r: w.entity.id,
    "account": lambda w, r: w.account("6000").id,
    "period": lambda w, r: w.period.id,
    "open_period": lambda w, r: closed_period(w).id,
    "entry": lambda w, r: submitted_by_preparer(w, 2_500).id,
    "own_draft": lambda w, r: own_draft(w, r).id,
    "pending": lambda w, r: submitted_by_preparer(w, THRESHOLD_MINOR + 1).id,
    "vendor": lambda w, r: w.vendor.id,
    "bill": lambda w, r: open_bill(w).id,
    "payment": lambda w, r: submitted_payment(w).id,
    "sync_run": lambda w, r: payment_run(w, PaymentRun.Kind.SYNC).id,
    "batch_run": lambda w, r: payment_run(w, PaymentRun.Kind.BATCH).id,
}


def _bill_body(w: World, r: str) -> dict:
    return {
        "entity_id": str(w.entity.id),
        "vendor_id": str(w.vendor.id),
        "number": "NEW-1",
        "currency_code": "USD",
        "bill_date": today().isoformat(),
        "due_date": (today() + timedelta(days=30)).isoformat(),
        "lines": [{"coa_account_id": str(w.account("6000").id), "amount_minor": 7_500}],
    }


def _payment_body(w: World, r: str) -> dict:
    bill = open_bill(w)
    return {"bill_id": str(bill.id), "amount_minor": 5_000, "currency_code": "USD"}


def _sync_run_body(w: World, r: str) -> dict:
    bill = open_bill(w)
    item = {"bill_id": str(bill.id), "amount_minor": 100, "currency_code": "USD"}
    return {"entity_id": str(w.entity.id), "items": [{**item, "external_id": "feed-1"}]}


# Request bodies (built after the path's objects), keyed like MATRIX.
BODIES: dict[tuple[str, str], Callable[[World, str], dict]] = {
    ("POST", "/v1/entities"): lambda w, r: {
        "name": "Rivane UK Ltd",
        "functional_currency": "GBP",
        "approval_threshold_minor": 500_000,
    },
    ("PATCH", "/v1/entities/{entity}"): lambda w, r: {"approval_threshold_minor": 123},
    ("POST", "/v1/accounts"): lambda w, r: {
        "entity_id": str(w.entity.id),
        "code": "6200",
        "name": "Software",
        "type": "EXPENSE",
    },
    ("POST", "/v1/periods"): lambda w, r: {
        "entity_id": str(w.entity.id),
        "name": "later",
        "start_date": (today() + timedelta(days=200)).isoformat(),
        "end_date": (today() + timedelta(days=230)).isoformat(),
    },
    ("POST", "/v1/fx-rates"): lambda w, r: {
        "base_currency": "GBP",
        "quote_currency": "USD",
        "rate": "1.2650",
        "as_of": today().isoformat(),
    },
    ("POST", "/v1/journal-entries"): lambda w, r: entry_request(w),
    ("PATCH", "/v1/journal-entries/{own_draft}"): lambda w, r: {"memo": "Edited"},
    ("POST", "/v1/journal-entries/{pending}/reject"): lambda w, r: {
        "reason_code": "missing_support",
        "reason": "Attach the invoice.",
    },
    ("POST", "/v1/journal-entries/{own_draft}/void"): lambda w, r: {"reason": "Not needed"},
    ("POST", "/v1/journal-entries/{entry}/reverse"): lambda w, r: {
        "posting_date": today().isoformat(),
        "period_id": str(w.period.id),
    },
    ("POST", "/v1/vendors"): lambda w, r: {
        "entity_id": str(w.entity.id),
        "name": "Globex",
        "currency_code": "USD",
    },
    ("POST", "/v1/bills"): _bill_body,
    ("POST", "/v1/payments"): _payment_body,
    ("POST", "/v1/payments/{payment}/void"): lambda w, r: {"reason_code": "bank_rejected"},
    ("POST", "/v1/payment-sync-runs"): _sync_run_body,
    ("POST", "/v1/payment-batch-runs"): lambda w, r: {
        "entity_id": str(w.entity.id),
        "bill_ids": [str(open_bill(w).id)],
    },
}

# What an allowed cell answers (anything not listed: 200).
SUCCESS: dict[tuple[str, str], int] = {
    ("POST", "/v1/entities"): 201,
    ("POST", "/v1/accounts"): 201,
    ("POST", "/v1/periods"): 201,
    ("POST", "/v1/fx-rates"): 201,
    ("POST", "/v1/journal-entries"): 201,
    ("POST", "/v1/journal-entries/{entry}/reverse"): 201,
    ("POST", "/v1/vendors"): 201,
    ("POST", "/v1/bills"): 201,
    ("POST", "/v1/payments"): 201,
    ("POST", "/v1/payment-sync-runs"): 202,
    ("POST", "/v1/payment-batch-runs"): 202,
}


def _placeholders(template: str) -> list[str]:
    return [part[1:-1] for part in template.split("/") if part.startswith("{")]


def build_request(world: World, method: str, template: str, role: str) -> tuple[str, dict | None]:
    """The concrete path (its objects built for `role`) and the body of one cell."""
    path = template
    for name in _placeholders(template):
        path = path.replace("{" + name + "}", str(PATH_OBJECTS[name](world, role)))
    body = BODIES.get((method, template))
    return path, body(world, role) if body else None


def send(client: APIClient, method: str, path: str, body: dict | None):
    return getattr(client, method.lower())(path, body, format="json")


def written() -> dict[str, Any]:
    """Everything a refused request could have changed: row counts and the mutable state."""
    counted = (
        Entity,
        Account,
        Period,
        FxRate,
        JournalEntry,
        JournalEntryLine,
        Vendor,
        Bill,
        Payment,
        PaymentRun,
        PaymentRunItem,
        IdempotencyKey,
        OutboxEvent,
        AuditEvent,
    )
    state: dict[str, Any] = {model.__name__: model.objects.count() for model in counted}
    state["entities"] = list(
        Entity.objects.order_by("id").values_list("id", "approval_threshold_minor")
    )
    state["periods"] = list(Period.objects.order_by("id").values_list("id", "status"))
    state["entries"] = list(
        JournalEntry.objects.order_by("id").values_list("id", "status", "memo", "approved_by_id")
    )
    state["bills"] = list(
        Bill.objects.order_by("id").values_list("id", "status", "balance_due_minor")
    )
    state["payments"] = list(Payment.objects.order_by("id").values_list("id", "status"))
    state["balances"] = list(
        AccountBalance.objects.order_by("id").values_list("id", "balance_minor", "version")
    )
    return state


CELLS = [
    pytest.param(method, template, role, id=f"{method} {template} as {role}")
    for (method, template), roles in MATRIX.items()
    for role in roles
]
ENDPOINTS = [
    pytest.param(method, template, id=f"{method} {template}") for method, template in MATRIX
]


@pytest.fixture
def world(db) -> World:
    return make_world()


def _v1_routes() -> dict[str, set[str]]:
    """Every /v1/ route (ids written `{}`) with the methods its view answers."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield "/" + prefix + str(p.pattern), p.callback

    routes: dict[str, set[str]] = {}
    for route, view in walk(get_resolver().url_patterns):
        if not route.startswith("/v1/") or route in ("/v1/schema/", "/v1/docs/"):
            continue
        shape = "/".join("{}" if part.startswith("<") else part for part in route.split("/"))
        view_class = view.view_class
        routes[shape] = {
            method.upper()
            for method in ("get", "post", "put", "patch", "delete")
            if hasattr(view_class, method)
        }
    return routes


def test_the_matrix_names_every_v1_endpoint_method_and_role():
    covered: dict[str, set[str]] = {}
    for method, template in MATRIX:
        shape = "/".join("{}" if part.startswith("{") else part for part in template.split("/"))
        covered.setdefault(shape, set()).add(method)
    assert covered == _v1_routes()
    assert all(set(roles) == set(ROLES) for roles in MATRIX.values())


@pytest.mark.parametrize(("method", "template", "role"), CELLS)
def test_role_matrix_cell(world, method, template, role):
    path, body = build_request(world, method, template, role)
    before = written()
    response = send(world.client(role), method, path, body)
    if MATRIX[(method, template)][role]:
        assert response.status_code == SUCCESS.get((method, template), 200), response.content
    else:
        problem = assert_problem(response, 403, "permission_denied")
        assert problem["title"] == "Not allowed"
        assert written() == before


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "template"), ENDPOINTS)
def test_no_token_is_401_on_every_endpoint(method, template):
    path = template
    for name in _placeholders(template):
        path = path.replace("{" + name + "}", str(uuid.uuid4()))
    before = written()
    response = send(APIClient(), method, path, {})
    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"
    assert written() == before


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "template"), ENDPOINTS)
def test_a_token_nobody_was_issued_is_401_on_every_endpoint(method, template):
    path = template
    for name in _placeholders(template):
        path = path.replace("{" + name + "}", str(uuid.uuid4()))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer rvn_" + "x" * 43)
    before = written()
    response = send(client, method, path, {})
    assert_problem(response, 401, "authentication_failed")
    assert response["WWW-Authenticate"] == "Bearer"
    assert written() == before


# The commands refuse on their own, whichever door calls them -------------------------

# Each builds its objects first, then returns the call to make as a given actor.
CONTROLLER_COMMANDS: dict[str, Callable[[World], Callable[[Actor], Any]]] = {
    "entity_create": lambda w: (
        lambda a: ledger.entity_create(
            a, name="X", functional_currency="USD", approval_threshold_minor=0
        )
    ),
    "entity_update": lambda w: (
        lambda a: ledger.entity_update(a, entity_id=w.entity.id, approval_threshold_minor=1)
    ),
    "account_create": lambda w: (
        lambda a: ledger.account_create(
            a, entity_id=w.entity.id, code="9999", name="X", type="EXPENSE"
        )
    ),
    "period_create": lambda w: (
        lambda a: ledger.period_create(
            a,
            entity_id=w.entity.id,
            name="far",
            start_date=today() + timedelta(days=400),
            end_date=today() + timedelta(days=420),
        )
    ),
    "period_close": lambda w: lambda a: ledger.period_close(a, period_id=w.period.id),
    "period_reopen": lambda w: (
        lambda period_id: lambda a: ledger.period_reopen(a, period_id=period_id)
    )(closed_period(w).id),
    "fx_rate_create": lambda w: (
        lambda a: ledger.fx_rate_create(
            a, base_currency="EUR", quote_currency="USD", rate=Decimal("1.08"), as_of=today()
        )
    ),
}


@pytest.mark.parametrize("role", [r for r in ALL if r != CONTROLLER])
@pytest.mark.parametrize("name", list(CONTROLLER_COMMANDS))
def test_controller_commands_refuse_every_other_role_whatever_the_door(world, name, role):
    call = CONTROLLER_COMMANDS[name](world)
    before = written()
    with pytest.raises(PermissionDenied) as refused:
        call(Actor(world.users[role], "API"))
    assert (refused.value.status, refused.value.code) == (403, "permission_denied")
    rejected = AuditEvent.objects.filter(outcome="REJECTED", reason_code="permission_denied")
    assert rejected.count() == 1
    after = written()
    assert after.pop("AuditEvent") == before.pop("AuditEvent") + 1
    assert after == before


@pytest.mark.parametrize("name", list(CONTROLLER_COMMANDS))
def test_controller_commands_accept_the_controller(world, name):
    result = CONTROLLER_COMMANDS[name](world)(Actor(world.users[CONTROLLER], "API"))
    assert result.pk is not None
    assert not AuditEvent.objects.filter(outcome="REJECTED").exists()


@pytest.mark.parametrize("role", [r for r in ALL if r not in APPROVERS])
def test_only_approvers_approve_through_the_command(world, role):
    entry = submitted_by_preparer(world, THRESHOLD_MINOR + 1)
    with pytest.raises(PermissionDenied) as refused:
        ledger.journal_entry_approve(Actor(world.users[role], "API"), entry_id=entry.id)
    assert refused.value.code == "journal_entry.approver_role_required"
    assert JournalEntry.objects.get(pk=entry.pk).status == JournalEntry.Status.PENDING_APPROVAL
