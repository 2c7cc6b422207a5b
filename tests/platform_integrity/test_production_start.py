"""Running in production: no published secrets, tokens that expire and can be revoked,
and throttled guessing of passwords and tokens."""

import datetime
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from platform_integrity.models import ApiToken, AuditEvent
from platform_integrity.web.auth import issue_token, token_hash
from tests.conftest import client_for, make_user

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "0",
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/rivane_production_check",
    "ALLOWED_HOSTS": "books.example.com",
}


# What the test run sets for itself and a production process never has.
TEST_ONLY_ENV = {"SECRET_KEY", "RIVANE_HTTPS", "DJANGO_ALLOW_ASYNC_UNSAFE"}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in TEST_ONLY_ENV}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_refuse_to_start_without_a_secret_key():
    started = manage("check", **PRODUCTION)
    assert started.returncode != 0
    assert "SECRET_KEY is not set" in started.stderr


def test_check_deploy_is_clean_under_production_settings():
    checked = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **PRODUCTION,
        SECRET_KEY="p" * 20 + "-production-only-secret-key-0123456789",
    )
    assert checked.returncode == 0, checked.stderr
    assert "no issues" in checked.stdout


def test_make_run_seeds_only_the_embedded_install():
    script = (ROOT / "scripts" / "run.sh").read_text()
    seeding = script.index("manage.py seed_demo")
    guard = script.rindex("if ", 0, seeding)
    assert "RIVANE_EMBEDDED_SERVICES" in script[guard:seeding]
    assert "RIVANE_SEED_DEMO" in script[guard:seeding]


@pytest.mark.django_db
def test_an_expired_token_is_refused(users):
    client = client_for(users["controller"])
    assert client.get("/v1/entities").status_code == 200
    ApiToken.objects.filter(user=users["controller"]).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    refused = client.get("/v1/entities")
    assert refused.status_code == 401
    assert refused.json()["code"] == "authentication_failed"


@pytest.mark.django_db
def test_tokens_live_the_configured_lifetime(users, settings):
    settings.RIVANE_TOKEN_TTL_DAYS = 30
    raw = issue_token(users["integration"])
    token = ApiToken.objects.get(key_hash=token_hash(raw))
    lifetime = token.expires_at - token.created_at
    assert datetime.timedelta(days=30) - lifetime < datetime.timedelta(seconds=5)

    out = StringIO()
    call_command("issue_token", "sync-bot", "--role", "integration", "--days", "7", stdout=out)
    short = ApiToken.objects.get(key_hash=token_hash(out.getvalue().strip()))
    assert datetime.timedelta(days=7) - (short.expires_at - short.created_at) < datetime.timedelta(
        seconds=5
    )
    with pytest.raises(CommandError):
        call_command("issue_token", "sync-bot", "--role", "integration", "--days", "0")


@pytest.mark.django_db
def test_revoke_token_command_refuses_the_token_and_audits_why(users):
    raw = issue_token(users["integration"])
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/v1/vendors").status_code == 200

    out = StringIO()
    call_command("revoke_token", raw[:12], "--reason", "laptop stolen", stdout=out)
    assert f"Revoked {raw[:12]}… of sync-bot." in out.getvalue()
    assert client.get("/v1/vendors").status_code == 401

    token = ApiToken.objects.get(key_hash=token_hash(raw))
    assert token.revoked_reason == "laptop stolen"
    event = AuditEvent.objects.get(action="platform_integrity.token_revoke")
    assert (event.object_id, event.payload["reason"], event.outcome) == (
        str(token.pk),
        "laptop stolen",
        "ACCEPTED",
    )
    with pytest.raises(CommandError, match="No live token"):
        call_command("revoke_token", raw[:12], "--reason", "again")


@pytest.mark.django_db
def test_revoke_every_token_of_a_user(users):
    tokens = [issue_token(users["integration"]) for _ in range(3)]
    kept = issue_token(users["ap_clerk"])
    call_command("revoke_token", "--user", "sync-bot", "--reason", "rotated", stdout=StringIO())
    assert ApiToken.objects.filter(user=users["integration"], revoked_at__isnull=True).count() == 0
    for raw in tokens:
        assert APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/v1/vendors").status_code == 401
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {kept}").get("/v1/vendors").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_admin_revokes_tokens_with_a_reason_and_only_with_the_permission(users):
    raw = issue_token(users["integration"])
    token = ApiToken.objects.get(key_hash=token_hash(raw))
    selection = {"action": "revoke_tokens", "_selected_action": [str(token.pk)]}

    clerk = make_user("frank", "ap_clerk")
    clerk.is_staff = True
    clerk.save()
    outsider = Client()
    outsider.force_login(clerk)
    outsider.post(
        "/admin/platform_integrity/apitoken/", {**selection, "confirm": "yes", "reason": "x"}
    )
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None

    controller = Client()
    controller.force_login(users["controller"])
    asked = controller.post("/admin/platform_integrity/apitoken/", selection)
    assert asked.status_code == 200 and 'name="reason"' in asked.content.decode()
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    controller.post(
        "/admin/platform_integrity/apitoken/",
        {**selection, "confirm": "yes", "reason": "integration retired"},
    )
    revoked = ApiToken.objects.get(pk=token.pk)
    assert revoked.revoked_at is not None and revoked.revoked_reason == "integration retired"
    event = AuditEvent.objects.get(action="platform_integrity.token_revoke")
    assert (event.actor, event.channel) == ("dave", "ADMIN")
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/v1/vendors").status_code == 401


@pytest.mark.django_db
def test_guessing_tokens_is_throttled_per_address(users, settings):
    settings.RIVANE_TOKEN_FAILURE_RATE = "3/min"
    guesser = APIClient(REMOTE_ADDR="198.51.100.66")
    codes = [
        guesser.get("/v1/vendors", HTTP_AUTHORIZATION=f"Bearer rvn_guess{n}").status_code
        for n in range(5)
    ]
    assert codes == [401, 401, 401, 429, 429]
    locked = guesser.get(
        "/v1/vendors", HTTP_AUTHORIZATION=f"Bearer {issue_token(users['integration'])}"
    )
    assert locked.status_code == 429
    assert locked.json()["code"] == "throttled" and "Retry-After" in locked
    elsewhere = client_for(users["integration"], ip="198.51.100.67")
    assert elsewhere.get("/v1/vendors").status_code == 200


@pytest.mark.django_db
def test_password_guessing_locks_the_login_out(users, settings):
    settings.AXES_FAILURE_LIMIT = 3
    browser = Client(REMOTE_ADDR="198.51.100.80")
    statuses = [
        browser.post("/accounts/login/", {"username": "alice", "password": "wrong"}).status_code
        for _ in range(4)
    ]
    assert statuses[:2] == [200, 200] and statuses[-1] == 429
    right = browser.post(
        "/accounts/login/", {"username": "alice", "password": "correct-horse-battery"}
    )
    assert right.status_code == 429
    other_address = Client(REMOTE_ADDR="198.51.100.81")
    signed_in = other_address.post(
        "/accounts/login/", {"username": "alice", "password": "correct-horse-battery"}
    )
    assert signed_in.status_code == 302
