"""The controllers' admin writes only through the commands, and the audit stays read-only."""

from decimal import Decimal

import pytest
from django.test import Client

from ledger import commands
from ledger.lines import LineInput
from ledger.models import Account, AccountBalance, Entity, FxRate, JournalEntry, Period
from platform_integrity.context import Actor
from platform_integrity.models import AuditEvent
from tests.conftest import PERIOD_START, TODAY

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def controller(users) -> Client:
    client = Client(REMOTE_ADDR="192.0.2.10")
    client.force_login(users["controller"])
    return client


def period_status(period) -> str:
    return Period.objects.get(pk=period.pk).status


def confirmed(action: str, period, reason: str = "Month-end close") -> dict:
    return {
        "action": action,
        "_selected_action": [str(period.pk)],
        "confirm": "yes",
        "reason": reason,
    }


def test_close_and_reopen_actions_go_through_the_commands(books, controller):
    url = "/admin/ledger/period/"
    asked = controller.post(
        url, {"action": "close_periods", "_selected_action": [str(books.period.pk)]}
    )
    assert asked.status_code == 200 and 'name="reason"' in asked.content.decode()
    assert period_status(books.period) == Period.Status.OPEN

    response = controller.post(url, confirmed("close_periods", books.period), follow=True)
    assert response.status_code == 200
    assert period_status(books.period) == Period.Status.CLOSED
    closed = AuditEvent.objects.get(action="ledger.period_close", object_id=str(books.period.pk))
    assert (closed.actor, closed.channel, closed.ip, closed.outcome) == (
        "dave",
        "ADMIN",
        "192.0.2.10",
        "ACCEPTED",
    )
    assert closed.payload["reason"] == "Month-end close"
    assert "closed." in response.content.decode()

    controller.post(url, confirmed("reopen_periods", books.period, "Late supplier invoice"))
    assert period_status(books.period) == Period.Status.OPEN
    assert AuditEvent.objects.filter(action="ledger.period_reopen").count() == 1


def test_closing_a_closed_period_shows_the_commands_error(books, controller):
    commands.period_close(Actor.system(), period_id=books.period.pk)
    response = controller.post(
        "/admin/ledger/period/", confirmed("close_periods", books.period), follow=True
    )
    assert "is already closed" in response.content.decode()
    rejected = AuditEvent.objects.get(action="ledger.period_close", outcome="REJECTED")
    assert rejected.channel == "ADMIN"


def test_accountant_cannot_close_periods(books, users):
    client = Client()
    client.force_login(users["accountant"])
    client.post("/admin/ledger/period/", confirmed("close_periods", books.period))
    assert period_status(books.period) == Period.Status.OPEN


def test_threshold_change_is_saved_through_entity_update(books, controller):
    url = f"/admin/ledger/entity/{books.entity.pk}/change/"
    page = controller.get(url)
    assert page.status_code == 200
    assert 'value="10000.00"' in page.content.decode()
    response = controller.post(
        url,
        {
            "approval_threshold": "25000.00",
            "ap_control_account": str(books.account("2000").pk),
            "bank_account": str(books.account("1000").pk),
            "fx_gain_loss_account": str(books.account("7900").pk),
        },
    )
    assert response.status_code == 302, response.content
    assert Entity.objects.get(pk=books.entity.pk).approval_threshold_minor == 2_500_000
    update = AuditEvent.objects.filter(action="ledger.entity_update").latest("id")
    assert update.channel == "ADMIN"
    assert update.payload == {"approval_threshold_minor": {"old": 1_000_000, "new": 2_500_000}}


def test_entity_and_account_are_created_through_the_commands(controller, users):
    response = controller.post(
        "/admin/ledger/entity/add/",
        {"name": "Rivane EU GmbH", "functional_currency": "eur", "approval_threshold": "5000"},
    )
    assert response.status_code == 302, response.content
    entity = Entity.objects.get(name="Rivane EU GmbH")
    assert (entity.functional_currency, entity.approval_threshold_minor) == ("EUR", 500_000)
    response = controller.post(
        "/admin/ledger/account/add/",
        {"entity": str(entity.pk), "code": "1000", "name": "Bank", "type": "ASSET"},
    )
    assert response.status_code == 302, response.content
    account = Account.objects.get(entity=entity, code="1000")
    assert AccountBalance.objects.get(account=account).currency_code == "EUR"
    assert AuditEvent.objects.filter(action="ledger.account_create", channel="ADMIN").exists()


def test_fx_rate_is_added_through_the_command_and_cannot_be_changed(controller, users):
    response = controller.post(
        "/admin/ledger/fxrate/add/",
        {"base_currency": "GBP", "quote_currency": "USD", "rate": "1.2650", "as_of": "2026-11-01"},
    )
    assert response.status_code == 302, response.content
    rate = FxRate.objects.get()
    assert rate.rate == Decimal("1.2650")
    assert AuditEvent.objects.filter(action="ledger.fx_rate_create", channel="ADMIN").exists()
    controller.post(
        f"/admin/ledger/fxrate/{rate.pk}/change/",
        {"base_currency": "GBP", "quote_currency": "USD", "rate": "9", "as_of": "2026-11-01"},
    )
    assert FxRate.objects.get().rate == Decimal("1.2650")
    assert controller.post(f"/admin/ledger/fxrate/{rate.pk}/delete/").status_code == 403


def test_journal_entry_admin_is_read_only(books, users, controller):
    actor = Actor(user=users["accountant"], channel="UI")
    entry = commands.journal_entry_create(
        actor,
        entity_id=books.entity.pk,
        period_id=books.period.pk,
        posting_date=TODAY,
        memo="Admin view",
        lines=[
            LineInput(books.account("6000").id, "DEBIT", 500, "USD"),
            LineInput(books.account("1000").id, "CREDIT", 500, "USD"),
        ],
    )
    page = controller.get(f"/admin/ledger/journalentry/{entry.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="_save"' not in html
    assert 'name="memo"' not in html  # shown, not editable
    assert "6000 Office expenses" in html  # the lines inline
    response = controller.post(
        f"/admin/ledger/journalentry/{entry.pk}/change/", {"memo": "Tampered"}
    )
    assert response.status_code == 403
    assert JournalEntry.objects.get(pk=entry.pk).memo == "Admin view"
    assert controller.get("/admin/ledger/journalentry/add/").status_code == 403
    assert controller.post(f"/admin/ledger/journalentry/{entry.pk}/delete/").status_code == 403
    assert controller.get(f"/admin/ledger/journalentry/{entry.pk}/history/").status_code == 200


def test_audit_admin_has_no_add_change_or_delete(books, controller):
    event = AuditEvent.objects.filter(action="ledger.period_create").first()
    listing = controller.get("/admin/platform_integrity/auditevent/", {"outcome": "ACCEPTED"})
    assert listing.status_code == 200
    assert "delete_selected" not in listing.content.decode()
    assert controller.get("/admin/platform_integrity/auditevent/add/").status_code == 403
    assert (
        controller.post(f"/admin/platform_integrity/auditevent/{event.pk}/delete/").status_code
        == 403
    )
    controller.post(f"/admin/platform_integrity/auditevent/{event.pk}/change/", {"actor": "x"})
    assert AuditEvent.objects.get(pk=event.pk).actor == event.actor
    found = controller.get(
        "/admin/platform_integrity/auditevent/", {"q": str(books.period.pk)}
    ).content.decode()
    assert "ledger.period_create" in found


def test_period_is_created_through_the_command(books, controller):
    response = controller.post(
        "/admin/ledger/period/add/",
        {
            "entity": str(books.entity.pk),
            "name": "2026-12",
            "start_date": "2026-12-01",
            "end_date": "2026-12-31",
        },
    )
    assert response.status_code == 302, response.content
    assert Period.objects.filter(entity=books.entity, name="2026-12").exists()
    # An overlapping period is refused by the command and shown to the controller.
    response = controller.post(
        "/admin/ledger/period/add/",
        {
            "entity": str(books.entity.pk),
            "name": "overlap",
            "start_date": PERIOD_START.isoformat(),
            "end_date": "2026-11-15",
        },
        follow=True,
    )
    assert "overlaps an existing period" in response.content.decode()
    assert not Period.objects.filter(name="overlap").exists()
