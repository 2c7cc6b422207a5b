"""Hostile input is a 4xx problem, never a 500, and nothing is written.

Explicit cases for each kind of input seen to break the product, then a
hypothesis-driven sweep of arbitrary JSON over the four busiest creates.
"""

import json
from datetime import timedelta

import pytest
from django.test import Client

from ledger.forms import JournalLineForm
from ledger.models import JournalEntry
from ledger.money import MAX_MINOR
from payables import commands as payables
from payables.models import Bill, Payment, Vendor
from platform_integrity.context import Actor
from platform_integrity.models import AuditEvent
from tests.conftest import TODAY, assert_problem, entry_body, line

pytestmark = pytest.mark.django_db

NUL = "\u0000"
HUGE = [2**63, 2**64, -(2**64), 10**30]


def written() -> dict[str, int]:
    return {
        "journal_entry": JournalEntry.objects.count(),
        "bill": Bill.objects.count(),
        "payment": Payment.objects.count(),
        "vendor": Vendor.objects.count(),
        "accepted": AuditEvent.objects.filter(outcome="ACCEPTED").count(),
    }


@pytest.fixture
def client(api):
    return api["integration"]


@pytest.fixture
def vendor(books, users):
    return payables.vendor_create(
        Actor(users["integration"], "API"),
        entity_id=books.entity.id,
        name="Acme Supplies",
        currency_code="USD",
    )


@pytest.fixture
def bill(books, users, vendor):
    return payables.bill_create(
        Actor(users["integration"], "API"),
        entity_id=books.entity.id,
        vendor_id=vendor.id,
        number="INV-1",
        currency_code="USD",
        bill_date=TODAY,
        due_date=TODAY + timedelta(days=30),
        lines=[{"coa_account_id": books.account("6000").id, "amount_minor": 10_000}],
    )


def entry_lines(books, amount=100, **extra):
    return [
        line(books.account("6000"), "DEBIT", amount, **extra),
        line(books.account("1000"), "CREDIT", amount),
    ]


def bill_body(books, vendor, *, lines=None, **extra):
    return {
        "entity_id": str(books.entity.id),
        "vendor_id": str(vendor.id),
        "number": "INV-2",
        "currency_code": "USD",
        "bill_date": TODAY.isoformat(),
        "due_date": TODAY.isoformat(),
        "lines": lines or [{"coa_account_id": str(books.account("6000").id), "amount_minor": 500}],
        **extra,
    }


def payment_body(bill, **extra):
    return {"bill_id": str(bill.id), "amount_minor": 1_000, "currency_code": "USD", **extra}


def vendor_body(books, **extra):
    return {"entity_id": str(books.entity.id), "name": "Globex", "currency_code": "USD", **extra}


def refused(client, path, body, status, code, *, raw=None) -> dict:
    """POST `body` (or the raw JSON text `raw`), assert the problem and that nothing was written."""
    before = written()
    if raw is None:
        response = client.post(path, body, format="json")
    else:
        response = client.post(path, raw, content_type="application/json")
    problem = assert_problem(response, status, code)
    assert written() == before
    return problem


# Amounts -------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", HUGE)
def test_entry_line_amount_beyond_a_bigint_is_a_field_error(client, books, amount):
    problem = refused(
        client,
        "/v1/journal-entries",
        entry_body(books, entry_lines(books, amount)),
        422,
        "validation_error",
    )
    assert "amount_minor" in problem["errors"]["lines"]["0"]


def test_entry_lines_summing_beyond_a_bigint_are_out_of_range(client, books):
    lines = [
        line(books.account("6000"), "DEBIT", MAX_MINOR),
        line(books.account("6100"), "DEBIT", MAX_MINOR),
        line(books.account("1000"), "CREDIT", MAX_MINOR),
        line(books.account("1200"), "CREDIT", MAX_MINOR),
    ]
    refused(
        client,
        "/v1/journal-entries",
        entry_body(books, lines),
        422,
        "journal_entry.amount_out_of_range",
    )


@pytest.mark.parametrize("amount", HUGE)
def test_bill_line_amount_beyond_a_bigint_is_a_field_error(client, books, vendor, amount):
    lines = [{"coa_account_id": str(books.account("6000").id), "amount_minor": amount}]
    problem = refused(
        client, "/v1/bills", bill_body(books, vendor, lines=lines), 422, "validation_error"
    )
    assert "amount_minor" in problem["errors"]["lines"]["0"]


def test_bill_lines_summing_beyond_a_bigint_are_refused(client, books, vendor):
    lines = [{"coa_account_id": str(books.account("6000").id), "amount_minor": MAX_MINOR}] * 2
    refused(client, "/v1/bills", bill_body(books, vendor, lines=lines), 422, "bill.invalid")


@pytest.mark.parametrize("amount", HUGE)
def test_payment_amount_beyond_a_bigint_is_a_field_error(client, bill, amount):
    problem = refused(
        client, "/v1/payments", payment_body(bill, amount_minor=amount), 422, "validation_error"
    )
    assert "amount_minor" in problem["errors"]


def test_payment_expected_version_beyond_a_bigint_is_a_field_error(client, bill):
    problem = refused(
        client,
        "/v1/payments",
        payment_body(bill, expected_version=2**64),
        422,
        "validation_error",
    )
    assert "expected_version" in problem["errors"]


@pytest.mark.parametrize("amount", HUGE)
def test_entity_threshold_beyond_a_bigint_is_a_field_error(api, books, amount):
    controller = api["controller"]
    body = {"name": "Rivane EU", "functional_currency": "EUR", "approval_threshold_minor": amount}
    problem = assert_problem(
        controller.post("/v1/entities", body, format="json"), 422, "validation_error"
    )
    assert "approval_threshold_minor" in problem["errors"]
    patched = controller.patch(
        f"/v1/entities/{books.entity.id}", {"approval_threshold_minor": amount}, format="json"
    )
    assert_problem(patched, 422, "validation_error")
    books.entity.refresh_from_db()
    assert books.entity.approval_threshold_minor == 1_000_000


# Text: NUL characters, lone surrogates, lengths -------------------------------------


def test_nul_in_entry_memo_is_a_field_error(client, books):
    body = entry_body(books, entry_lines(books), memo=f"rent{NUL}")
    problem = refused(client, "/v1/journal-entries", body, 422, "validation_error")
    assert "memo" in problem["errors"]


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"memo": f"taxi{NUL}"}, "memo"),
        ({"external_id": f"line{NUL}1"}, "external_id"),
        ({"external_id": "x" * 256}, "external_id"),
        ({"memo": "x" * 501}, "memo"),
        ({"dimension_tags": {"dept": f"ops{NUL}"}}, "dimension_tags"),
        ({"dimension_tags": {f"de{NUL}pt": "ops"}}, "dimension_tags"),
        ({"dimension_tags": {"dept": {"nested": "ops"}}}, "dimension_tags"),
        ({"dimension_tags": {"dept": ["ops"]}}, "dimension_tags"),
        ({"dimension_tags": {"dept": "x" * 201}}, "dimension_tags"),
        ({"dimension_tags": {"x" * 65: "ops"}}, "dimension_tags"),
        ({"dimension_tags": {f"k{i}": "v" for i in range(21)}}, "dimension_tags"),
    ],
    ids=[
        "memo-nul",
        "external-id-nul",
        "external-id-256",
        "memo-501",
        "tag-value-nul",
        "tag-key-nul",
        "tag-nested-object",
        "tag-list",
        "tag-value-201",
        "tag-key-65",
        "tags-21-keys",
    ],
)
def test_bad_line_text_is_a_field_error_on_that_line(client, books, extra, field):
    body = entry_body(books, entry_lines(books, **extra))
    problem = refused(client, "/v1/journal-entries", body, 422, "validation_error")
    assert field in problem["errors"]["lines"]["0"]


def test_dimension_tags_within_bounds_are_kept(client, books):
    tags = {f"k{i}": "v" * 200 for i in range(20)} | {"cost_center": 42, "billable": True}
    tags.pop("k0"), tags.pop("k1")
    response = client.post(
        "/v1/journal-entries",
        entry_body(books, entry_lines(books, dimension_tags=tags)),
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["lines"][0]["dimension_tags"] == tags


def test_million_character_memo_is_refused(client, books):
    body = entry_body(books, entry_lines(books), memo="x" * 1_000_000)
    problem = refused(client, "/v1/journal-entries", body, 422, "validation_error")
    assert "memo" in problem["errors"]


def test_memo_at_the_bound_is_accepted(client, books):
    body = entry_body(books, entry_lines(books), memo="x" * 1000)
    assert client.post("/v1/journal-entries", body, format="json").status_code == 201


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"name": f"Glo{NUL}bex"}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"external_id": f"v{NUL}1"}, "external_id"),
        ({"external_id": "x" * 256}, "external_id"),
    ],
    ids=["name-nul", "name-201", "external-id-nul", "external-id-256"],
)
def test_bad_vendor_text_is_a_field_error(client, books, extra, field):
    problem = refused(client, "/v1/vendors", vendor_body(books, **extra), 422, "validation_error")
    assert field in problem["errors"]


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"number": f"INV{NUL}2"}, "number"),
        ({"external_id": "x" * 256}, "external_id"),
    ],
    ids=["number-nul", "external-id-256"],
)
def test_bad_bill_text_is_a_field_error(client, books, vendor, extra, field):
    body = bill_body(books, vendor, **extra)
    problem = refused(client, "/v1/bills", body, 422, "validation_error")
    assert field in problem["errors"]


def test_nul_in_bill_line_memo_is_a_field_error(client, books, vendor):
    lines = [{"coa_account_id": str(books.account("6000").id), "amount_minor": 5, "memo": NUL}]
    problem = refused(
        client, "/v1/bills", bill_body(books, vendor, lines=lines), 422, "validation_error"
    )
    assert "memo" in problem["errors"]["lines"]["0"]


def test_over_long_reject_reason_is_a_field_error(api, books):
    created = api["accountant"].post(
        "/v1/journal-entries", entry_body(books, entry_lines(books)), format="json"
    )
    entry_id = created.json()["id"]
    api["accountant"].post(f"/v1/journal-entries/{entry_id}/submit")
    response = api["approver"].post(
        f"/v1/journal-entries/{entry_id}/reject",
        {"reason_code": "OTHER", "reason": "x" * 1001},
        format="json",
    )
    problem = assert_problem(response, 422, "validation_error")
    assert "reason" in problem["errors"]


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\ud83d"])
def test_lone_surrogate_in_text_is_malformed(client, books, escape):
    body = json.dumps(entry_body(books, entry_lines(books), memo="MEMO")).replace("MEMO", escape)
    refused(client, "/v1/journal-entries", None, 400, "malformed_request", raw=body)


# Nesting -------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [33, 3_000, 100_000])
def test_deeply_nested_json_is_malformed(client, books, depth):
    raw = '{"memo": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"
    problem = refused(client, "/v1/journal-entries", None, 400, "malformed_request", raw=raw)
    assert "32" in problem["detail"]


def test_nesting_up_to_the_bound_is_parsed(client, books):
    raw = '{"memo": ' + "[" * 31 + "]" * 31 + "}"
    problem = refused(client, "/v1/journal-entries", None, 422, "validation_error", raw=raw)
    assert "memo" in problem["errors"]


def test_nesting_is_bounded_on_every_endpoint(client, bill):
    raw = "[" * 5_000 + "]" * 5_000
    for path in ("/v1/vendors", "/v1/bills", "/v1/payments", f"/v1/payments/{bill.id}/void"):
        refused(client, path, None, 400, "malformed_request", raw=raw)


# Query parameters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, query",
    [
        ("/v1/bills", "offset=1e20"),
        ("/v1/bills", "offset=100000000000000000000"),
        ("/v1/bills", "offset=abc"),
        ("/v1/bills", "limit=-1"),
        ("/v1/bills", "limit=0"),
        ("/v1/bills", "limit=100000000000000000000"),
        ("/v1/bills", "due_before=tomorrow"),
        ("/v1/bills", "status=PAIDISH"),
        ("/v1/vendors", "offset=-1"),
        ("/v1/vendors", "entity_id=%00"),
        ("/v1/payments", "offset=1e20"),
        ("/v1/payments", "bill_id=not-a-uuid"),
        ("/v1/journal-entries", "limit=abc"),
        ("/v1/journal-entries", "limit=-1"),
        ("/v1/journal-entries", "offset=1e20"),
        ("/v1/journal-entries", "status=%00"),
        ("/v1/accounts", "entity_id=junk"),
        ("/v1/periods", "entity_id=junk"),
    ],
)
def test_junk_list_parameters_are_a_400_problem(client, path, query):
    problem = assert_problem(client.get(f"{path}?{query}"), 400, "validation_error")
    assert query.split("=")[0] in problem["errors"]


def test_junk_trial_balance_date_is_a_400_problem(api, books):
    response = api["accountant"].get(
        f"/v1/entities/{books.entity.id}/trial-balance?as_of=2026-13-45"
    )
    assert_problem(response, 400, "validation_error")


def test_a_page_past_the_end_is_empty(client, bill):
    listed = client.get("/v1/bills?offset=1000000&limit=500")
    assert listed.status_code == 200 and listed.json()["results"] == []


def test_journal_entries_page_with_offset(client, books):
    for _ in range(3):
        client.post("/v1/journal-entries", entry_body(books, entry_lines(books)), format="json")
    first = client.get("/v1/journal-entries?limit=2").json()["results"]
    rest = client.get("/v1/journal-entries?limit=2&offset=2").json()["results"]
    assert len(first) == 2 and len(rest) == 1
    assert {e["id"] for e in first}.isdisjoint(e["id"] for e in rest)


# Screen amounts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount",
    [
        "²",
        "1e5",
        "1E5",
        "NaN",
        "sNaN",
        "Infinity",
        "-Infinity",
        "1" * 23,
        "9" * 20,
        "١٢٣",
        "1_000",
        "0x10",
        "12.5.0",
        "--5",
    ],
)
def test_screen_amounts_that_are_not_plain_decimals_are_form_errors(amount):
    form = JournalLineForm(
        data={
            "account": "00000000-0000-0000-0000-000000000001",
            "direction": "DEBIT",
            "amount": amount,
            "currency": "USD",
        }
    )
    assert not form.is_valid()
    assert "amount" in form.errors


@pytest.mark.parametrize(
    "amount, minor",
    [
        ("12,500.00", 1_250_000),
        ("12500", 1_250_000),
        ("0.01", 1),
        (" 7.5 ", 750),
        ("92,233,720,368,547,758.07", MAX_MINOR),
    ],
)
def test_screen_amounts_accountants_type_still_parse(amount, minor):
    form = JournalLineForm(
        data={
            "account": "00000000-0000-0000-0000-000000000001",
            "direction": "DEBIT",
            "amount": amount,
            "currency": "USD",
        }
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["amount_minor"] == minor


@pytest.mark.parametrize("amount", ["²", "1e5", "NaN", "1" * 23, "92233720368547758.08"])
def test_screen_with_a_hostile_amount_shows_the_form_again(books, users, amount):
    browser = Client(REMOTE_ADDR="198.51.100.4")
    browser.force_login(users["accountant"])
    data = {
        "entity": str(books.entity.id),
        "period": str(books.period.id),
        "posting_date": TODAY.isoformat(),
        "memo": "Accrue rent",
        "idempotency_key": "ui-hostile-1",
        "lines-TOTAL_FORMS": "2",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
    }
    for i, (code, direction) in enumerate([("6000", "DEBIT"), ("1000", "CREDIT")]):
        data |= {
            f"lines-{i}-account": str(books.account(code).id),
            f"lines-{i}-direction": direction,
            f"lines-{i}-amount": amount,
            f"lines-{i}-currency": "USD",
        }
    before = written()
    response = browser.post("/journal-entries/new/", data)
    assert response.status_code == 422
    assert "Amount:" in response.content.decode()
    assert written() == before
