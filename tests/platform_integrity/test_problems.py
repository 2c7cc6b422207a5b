"""Every error under /v1/ is an RFC 9457 problem with the spec's code; never a 500."""

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from tests.conftest import assert_problem

pytestmark = pytest.mark.django_db


def test_no_token_is_401(client):
    assert_problem(APIClient().get("/v1/entities"), 401, "not_authenticated")


def test_invalid_token_is_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer rvn_not-a-real-token")
    assert_problem(client.get("/v1/entities"), 401, "authentication_failed")


def test_missing_role_is_403(api):
    assert_problem(
        api["ap_clerk"].post("/v1/journal-entries", {}, format="json"), 403, "permission_denied"
    )


def test_unknown_id_is_404(api):
    missing = "00000000-0000-0000-0000-000000000000"
    assert_problem(api["accountant"].get(f"/v1/journal-entries/{missing}"), 404, "not_found")
    assert_problem(api["accountant"].get("/v1/no-such-thing"), 404, "not_found")


def test_wrong_method_is_405(api):
    assert_problem(api["accountant"].delete("/v1/journal-entries"), 405, "method_not_allowed")


def test_malformed_json_is_400(api):
    response = api["accountant"].post(
        "/v1/journal-entries", "{not json", content_type="application/json"
    )
    assert_problem(response, 400, "malformed_request")


def test_wrong_content_type_is_415(api):
    response = api["accountant"].post("/v1/journal-entries", "a=b", content_type="text/plain")
    assert_problem(response, 415, "unsupported_media_type")


def test_validation_errors_are_422_with_field_errors(api, books):
    response = api["accountant"].post(
        "/v1/journal-entries",
        {
            "entity_id": "nope",
            "period_id": str(books.period.id),
            "posting_date": "2026-13-45",
            "lines": [{"coa_account_id": "x", "amount_minor": "12.5", "direction": "UP"}],
        },
        format="json",
    )
    problem = assert_problem(response, 422, "validation_error")
    assert {"entity_id", "posting_date"} <= problem["errors"].keys()


def test_wrong_types_in_lines_are_422(api, books):
    response = api["accountant"].post(
        "/v1/journal-entries",
        {
            "entity_id": str(books.entity.id),
            "period_id": str(books.period.id),
            "posting_date": "2026-11-21",
            "lines": [{"coa_account_id": "x", "amount_minor": 12.5, "direction": "UP"}],
        },
        format="json",
    )
    problem = assert_problem(response, 422, "validation_error")
    assert set(problem["errors"]["lines"]["0"]) == {
        "coa_account_id",
        "amount_minor",
        "direction",
        "currency_code",
    }


def test_huge_body_is_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api["accountant"].post("/v1/journal-entries", {"memo": "x" * 2000}, format="json")
    assert_problem(response, 413, "request_too_large")


def test_contention_and_metrics_are_exposed(api, client):
    from platform_integrity import contention

    contention.record([("account_balance", "abc"), ("vendor", "v1")], exhausted=False)
    contention.record([("account_balance", "abc")], exhausted=True)
    rows = api["controller"].get("/v1/platform/contention").json()["rows"]
    assert rows[0] == {
        **rows[0],
        "table": "account_balance",
        "row_id": "abc",
        "conflict_retries": 2,
        "retry_exhaustions": 1,
    }
    metrics = client.get("/metrics").content.decode()
    assert 'rivane_conflict_retries_total{row_id="abc",table="account_balance"} 2.0' in metrics


def test_schema_and_docs_are_served(api):
    schema = api["accountant"].get("/v1/schema/")
    assert schema.status_code == 200
    assert b"/v1/journal-entries" in schema.content
    assert api["accountant"].get("/v1/docs/").status_code == 200


def test_openapi_schema_validates_without_warnings(tmp_path):
    import yaml

    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    components = schema["components"]["schemas"]
    assert {"reason_code", "reason"} <= components["JournalEntryRejectInput"]["properties"].keys()
    assert "bill_id" in components["PaymentListCreateInput"]["properties"]
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_create_user_prints_a_working_token_last(capsys):
    call_command(
        "create_user", "ivy", "--role", "integration", "--password", "pw-123456", "--token"
    )
    call_command("create_user", "ivy", "--role", "accountant")
    first_run = capsys.readouterr().out.strip().splitlines()
    token = first_run[1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/v1/entities").status_code == 200
    assert "accountant, integration" in first_run[-1]


def test_a_role_granted_applies_to_the_next_request_and_a_revoked_token_is_refused(users):
    from django.utils import timezone

    from platform_integrity.accounts import user_with_role
    from platform_integrity.models import ApiToken
    from tests.conftest import client_for

    clerk = client_for(users["ap_clerk"])
    assert_problem(clerk.get("/v1/journal-entries"), 403, "permission_denied")
    user_with_role(users["ap_clerk"].username, "accountant")
    assert clerk.get("/v1/journal-entries").status_code == 200

    ApiToken.objects.filter(user=users["ap_clerk"]).update(revoked_at=timezone.now())
    assert_problem(clerk.get("/v1/journal-entries"), 401, "authentication_failed")
