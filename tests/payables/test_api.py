"""The payables API: shapes, idempotency headers, versions, channels, bad input."""

import pytest

from payables.models import Payment
from tests.payables.conftest import assert_invariants_hold, assert_problem, today

pytestmark = pytest.mark.django_db(transaction=True)


def payment_body(bill, **extra):
    return {"bill_id": str(bill.id), "amount_minor": 10_000, "currency_code": "USD", **extra}


def test_vendor_and_bill_create_and_read(books, integration_api):
    vendor = integration_api.post(
        "/v1/vendors",
        {"entity_id": str(books.entity.id), "name": "Globex", "currency_code": "usd"},
        format="json",
    )
    assert vendor.status_code == 201, vendor.content
    vendor_id = vendor.json()["id"]
    bill_body = {
        "entity_id": str(books.entity.id),
        "vendor_id": vendor_id,
        "number": "G-77",
        "currency_code": "USD",
        "bill_date": today().isoformat(),
        "due_date": today().isoformat(),
        "lines": [{"coa_account_id": str(books.account("6000").id), "amount_minor": 5_000}],
    }
    created = integration_api.post("/v1/bills", bill_body, format="json")
    assert created.status_code == 201, created.content
    bill = created.json()
    assert (bill["status"], bill["total_minor"], bill["balance_due_minor"]) == (
        "OPEN",
        5_000,
        5_000,
    )
    assert bill["in_flight_payment_id"] is None
    shown = integration_api.get(f"/v1/bills/{bill['id']}").json()
    assert {"id", "status", "total_minor", "balance_due_minor", "currency_code"} <= shown.keys()
    assert shown["lines"][0]["amount_minor"] == 5_000
    listed = integration_api.get("/v1/bills", {"vendor_id": vendor_id, "status": "OPEN"}).json()
    assert [b["id"] for b in listed["results"]] == [bill["id"]]
    read = integration_api.get(f"/v1/vendors/{vendor_id}").json()
    assert (read["open_balance_minor"], read["version"]) == (5_000, 1)

    duplicate_number = integration_api.post(
        "/v1/bills", {**bill_body, "number": "G-77"}, format="json"
    )
    assert_problem(duplicate_number, 409, "bill.number_taken")


def test_payment_create_post_and_get(bill, integration_api):
    created = integration_api.post("/v1/payments", payment_body(bill), format="json")
    assert created.status_code == 201, created.content
    payment = created.json()
    assert payment["status"] == "SUBMITTED" and payment["channel"] == "API"
    assert (
        integration_api.get(f"/v1/bills/{bill.id}").json()["in_flight_payment_id"] == payment["id"]
    )
    posted = integration_api.post(f"/v1/payments/{payment['id']}/post")
    assert posted.status_code == 200 and posted.json()["status"] == "POSTED"
    assert integration_api.get(f"/v1/payments/{payment['id']}").json()["status"] == "POSTED"
    twice = integration_api.post(f"/v1/payments/{payment['id']}/post")
    assert_problem(twice, 409, "payment.invalid_transition")
    assert_invariants_hold()


def test_idempotency_key_header_replays_and_refuses_reuse(bill, integration_api):
    first = integration_api.post(
        "/v1/payments", payment_body(bill), format="json", HTTP_IDEMPOTENCY_KEY="abc-1"
    )
    assert first.status_code == 201
    replay = integration_api.post(
        "/v1/payments", payment_body(bill), format="json", HTTP_IDEMPOTENCY_KEY="abc-1"
    )
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert replay.json()["external_id"] == "abc-1"
    reused = integration_api.post(
        "/v1/payments",
        payment_body(bill, amount_minor=9_999),
        format="json",
        HTTP_IDEMPOTENCY_KEY="abc-1",
    )
    assert_problem(reused, 422, "idempotency.key_reused")
    assert Payment.objects.count() == 1


def test_external_id_replay_after_post(bill, integration_api):
    body = payment_body(bill, external_id="ext-9", post=True)
    first = integration_api.post("/v1/payments", body, format="json")
    assert first.json()["status"] == "POSTED"
    replay = integration_api.post("/v1/payments", body, format="json")
    assert (replay.status_code, replay.json()["id"]) == (201, first.json()["id"])


def test_stale_version_via_if_match_and_body(books, bill, integration_api):
    stale = integration_api.post(
        "/v1/payments", payment_body(bill), format="json", HTTP_IF_MATCH='"0"'
    )
    body = assert_problem(stale, 409, "optimistic_lock_conflict")
    assert body["current_version"] == 1
    assert "retry" in body
    fresh = integration_api.post(
        "/v1/payments", payment_body(bill, expected_version=1), format="json"
    )
    assert fresh.status_code == 201


def test_ui_channel_declared_by_api_is_refused(bill, integration_api):
    response = integration_api.post("/v1/payments", payment_body(bill, channel="UI"), format="json")
    assert_problem(response, 422, "payment.channel_invalid")
    sync = integration_api.post("/v1/payments", payment_body(bill, channel="SYNC"), format="json")
    assert sync.json()["channel"] == "SYNC"


def test_overpayment_and_currency_mismatch(bill, integration_api):
    over = integration_api.post(
        "/v1/payments", payment_body(bill, amount_minor=bill.total_minor + 1), format="json"
    )
    assert_problem(over, 422, "payment.overpayment")
    eur = integration_api.post(
        "/v1/payments", payment_body(bill, currency_code="EUR"), format="json"
    )
    assert_problem(eur, 422, "payment.currency_mismatch")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"bill_id": "nope", "amount_minor": 1, "currency_code": "USD"},
        {
            "bill_id": "00000000-0000-0000-0000-000000000000",
            "amount_minor": "x",
            "currency_code": 1,
        },
        {
            "bill_id": "00000000-0000-0000-0000-000000000000",
            "amount_minor": 2**70,
            "currency_code": "USD",
        },
        {
            "bill_id": "00000000-0000-0000-0000-000000000000",
            "amount_minor": 0,
            "currency_code": "USD",
        },
    ],
)
def test_bad_payment_input_is_422(bill, integration_api, body):
    assert_problem(
        integration_api.post("/v1/payments", body, format="json"), 422, "validation_error"
    )


def test_unknown_ids_are_404_and_malformed_json_400(bill, integration_api):
    unknown = "00000000-0000-0000-0000-000000000000"
    missing = integration_api.post(
        "/v1/payments",
        {"bill_id": unknown, "amount_minor": 1, "currency_code": "USD"},
        format="json",
    )
    assert_problem(missing, 404, "not_found")
    assert_problem(integration_api.get(f"/v1/bills/{unknown}"), 404, "not_found")
    assert_problem(integration_api.get(f"/v1/payments/{unknown}"), 404, "not_found")
    assert_problem(integration_api.post(f"/v1/payments/{unknown}/post"), 404, "not_found")
    garbled = integration_api.post("/v1/payments", "{not json", content_type="application/json")
    assert_problem(garbled, 400, "malformed_request")


def test_void_needs_reason_code(bill, integration_api):
    payment = integration_api.post("/v1/payments", payment_body(bill), format="json").json()
    missing = integration_api.post(f"/v1/payments/{payment['id']}/void", {}, format="json")
    assert_problem(missing, 422, "validation_error")


def test_roles_are_enforced(books, bill, client):
    from tests.payables.conftest import api_client

    controller = api_client(books.users["controller"])
    assert controller.get(f"/v1/bills/{bill.id}").status_code == 200
    assert_problem(
        controller.post("/v1/payments", payment_body(bill), format="json"), 403, "permission_denied"
    )
    assert client.get(f"/v1/bills/{bill.id}").status_code == 401
