"""Generated requests over the whole OpenAPI schema: every answer is below 500, and
a refused request writes nothing.

Schemathesis draws each operation's requests from the schema the API publishes,
valid and invalid (wrong types, out-of-range numbers, odd strings), and sends them
in process to the WSGI application with a token that holds every role, so the
deepest checks are reached rather than stopped at the permission gate.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import commands as ledger
from ledger.lines import LineInput
from ledger.models import Account, Entity, FxRate, JournalEntry, Period
from payables import commands as payables
from payables.models import Bill, Payment, PaymentRun, Vendor
from platform_integrity.context import Actor
from platform_integrity.models import AuditEvent
from platform_integrity.web.auth import issue_token
from tests.conftest import TODAY, make_user, posted_entry

ROLES = ("accountant", "approver", "controller", "ap_clerk", "integration")
SCHEMA = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(public=True))
OPERATIONS = {op.label: op for op in (result.ok() for result in SCHEMA.get_all_operations())}


def written() -> dict[str, int]:
    models = (Entity, Account, Period, FxRate, JournalEntry, Vendor, Bill, Payment, PaymentRun)
    counts = {model.__name__: model.objects.count() for model in models}
    counts["accepted"] = AuditEvent.objects.filter(outcome="ACCEPTED").count()
    return counts


@pytest.fixture
def wsgi_app():
    # As Django's test client does: the test's transaction must outlive each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzzer(db):
    return make_user("fuzz", *ROLES)


@pytest.fixture
def every_role_token(fuzzer):
    return issue_token(fuzzer)


@pytest.fixture
def real_ids(books, fuzzer) -> dict[str, list[str]]:
    """Ids of real objects of each kind, so generated requests reach past the lookup."""
    actor = Actor(fuzzer, "API")
    ledger.period_create(
        actor,
        entity_id=books.entity.id,
        name="current",
        start_date=timezone.localdate(),
        end_date=timezone.localdate(),
    )
    vendor = payables.vendor_create(
        actor, entity_id=books.entity.id, name="Acme", currency_code="USD"
    )
    bill = payables.bill_create(
        actor,
        entity_id=books.entity.id,
        vendor_id=vendor.id,
        number="INV-1",
        currency_code="USD",
        bill_date=TODAY,
        due_date=TODAY,
        lines=[{"coa_account_id": books.account("6000").id, "amount_minor": 50_000}],
    )
    payment = payables.payment_submit(
        actor, bill_id=bill.id, amount_minor=1_000, currency_code="USD"
    )
    draft = ledger.journal_entry_create(
        actor,
        entity_id=books.entity.id,
        period_id=books.period.id,
        posting_date=TODAY,
        lines=[
            LineInput(books.account("6000").id, "DEBIT", 500, "USD"),
            LineInput(books.account("1000").id, "CREDIT", 500, "USD"),
        ],
    )
    posted = posted_entry(books, 700)
    accounts = [str(a.id) for a in books.accounts.values()]
    return {
        "entity_id": [str(books.entity.id)],
        "period_id": [str(p.id) for p in Period.objects.all()],
        "account_id": accounts,
        "coa_account_id": accounts,
        "entry_id": [str(draft.id), str(posted.id)],
        "vendor_id": [str(vendor.id)],
        "bill_id": [str(bill.id)],
        "payment_id": [str(payment.id)],
    }


def with_real_ids(value, real_ids, draw):
    """`value` with some of its `*_id` strings swapped for ids of real objects."""
    if isinstance(value, list):
        return [with_real_ids(item, real_ids, draw) for item in value]
    if not isinstance(value, dict):
        return value
    swapped = {}
    for key, item in value.items():
        if key in real_ids and isinstance(item, str) and draw(st.booleans()):
            item = draw(st.sampled_from(real_ids[key]))
        swapped[key] = with_real_ids(item, real_ids, draw)
    return swapped


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_request_is_a_server_error_and_a_refused_one_writes_nothing(
    label, wsgi_app, every_role_token, real_ids
):
    operation = OPERATIONS[label]
    headers = {"Authorization": f"Bearer {every_role_token}"}

    @settings(
        max_examples=20,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(), data=st.data())
    def answer_is_safe(case, data):
        case.path_parameters = with_real_ids(case.path_parameters, real_ids, data.draw)
        case.body = with_real_ids(case.body, real_ids, data.draw)
        before = written()
        response = case.call(app=wsgi_app, headers=headers)
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert response.headers["content-type"][0].startswith("application/problem+json")
            assert written() == before, response.text

    answer_is_safe()
