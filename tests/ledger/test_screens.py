"""The ledger screens drive the same commands as the API: forms in, commands called, words out."""

import pytest
from django.test import Client

from ledger import commands
from ledger.lines import LineInput
from ledger.models import AccountBalance, JournalEntry
from platform_integrity.context import Actor
from platform_integrity.models import AuditEvent
from tests.conftest import TODAY

pytestmark = pytest.mark.django_db

Status = JournalEntry.Status


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # PBKDF2 at full strength costs ~0.7 s per user on this machine; tests need no strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def browser(user) -> Client:
    client = Client(REMOTE_ADDR="198.51.100.4")
    client.force_login(user)
    return client


def entry_form(books, lines, *, key="ui-test-key-1", submit=False, memo="Accrue rent"):
    data = {
        "entity": str(books.entity.id),
        "period": str(books.period.id),
        "posting_date": TODAY.isoformat(),
        "memo": memo,
        "idempotency_key": key,
        "lines-TOTAL_FORMS": str(len(lines) + 1),  # plus a blank row the user never filled
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
    }
    for i, (code, direction, amount) in enumerate(lines):
        data |= {
            f"lines-{i}-account": str(books.account(code).id),
            f"lines-{i}-direction": direction,
            f"lines-{i}-amount": amount,
            f"lines-{i}-currency": "USD",
            f"lines-{i}-memo": f"line {i + 1}",
        }
    data[f"lines-{len(lines)}-currency"] = "USD"
    data[f"lines-{len(lines)}-direction"] = "DEBIT"
    data["save_and_submit" if submit else "save_draft"] = "1"
    return data


BIG = [("6000", "DEBIT", "12,500.00"), ("1000", "CREDIT", "12500")]


def pending_entry(books, preparer) -> JournalEntry:
    actor = Actor(user=preparer, channel="UI")
    entry = commands.journal_entry_create(
        actor,
        entity_id=books.entity.id,
        period_id=books.period.id,
        posting_date=TODAY,
        memo="Big accrual",
        lines=[
            LineInput(books.account("6000").id, "DEBIT", 2_000_000, "USD"),
            LineInput(books.account("1000").id, "CREDIT", 2_000_000, "USD"),
        ],
    )
    return commands.journal_entry_submit(actor, entry_id=entry.id)


def test_new_entry_form_renders_for_accountant(books, users):
    response = browser(users["accountant"]).get("/journal-entries/new/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="add-line"' in html
    assert "1000 · Cash at bank" in html
    assert 'name="idempotency_key"' in html


def test_form_creates_a_draft_with_amounts_converted_to_minor_units(books, users):
    response = browser(users["accountant"]).post("/journal-entries/new/", entry_form(books, BIG))
    entry = JournalEntry.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/journal-entries/{entry.id}/"
    assert entry.status == Status.DRAFT
    assert entry.prepared_by == users["accountant"]
    assert entry.external_id == "ui-test-key-1"
    assert sorted(entry.lines.values_list("direction", "amount_minor")) == [
        ("CREDIT", 1_250_000),
        ("DEBIT", 1_250_000),
    ]
    assert AuditEvent.objects.get(action="ledger.journal_entry_create").channel == "UI"


def test_double_submit_of_the_same_form_creates_one_entry(books, users):
    client = browser(users["accountant"])
    first = client.post("/journal-entries/new/", entry_form(books, BIG, submit=True))
    second = client.post("/journal-entries/new/", entry_form(books, BIG, submit=True))
    entry = JournalEntry.objects.get()
    assert first["Location"] == second["Location"] == f"/journal-entries/{entry.id}/"
    assert entry.status == Status.PENDING_APPROVAL


def test_imbalanced_entry_shows_the_difference_and_saves_nothing(books, users):
    lines = [("6000", "DEBIT", "1,000.00"), ("1000", "CREDIT", "900.00")]
    response = browser(users["accountant"]).post(
        "/journal-entries/new/", entry_form(books, lines, submit=True)
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "The entry does not balance" in html
    assert "debits total 1,000.00 USD and credits total 900.00 USD" in html
    assert "a difference of 100.00 USD" in html
    assert 'value="900.00"' in html  # the entered lines are kept
    assert JournalEntry.objects.count() == 0
    rejected = AuditEvent.objects.get(outcome="REJECTED")
    assert rejected.reason_code == "journal_entry.imbalanced"
    assert rejected.channel == "UI"


def test_amount_with_too_many_decimals_is_refused_before_the_command(books, users):
    lines = [("6000", "DEBIT", "10.005"), ("1000", "CREDIT", "10.005")]
    response = browser(users["accountant"]).post("/journal-entries/new/", entry_form(books, lines))
    assert response.status_code == 422
    assert "USD amounts have at most 2 decimal places." in response.content.decode()
    assert JournalEntry.objects.count() == 0


def test_account_of_another_entity_is_named_on_its_line(books, users):
    data = entry_form(books, BIG)
    other = commands.account_create(
        Actor.system(), entity_id=books.entity.id, code="9999", name="Closed", type="EXPENSE"
    )
    commands.account_set_active(Actor.system(), account_id=other.id, active=False)
    data["lines-0-account"] = str(other.id)
    response = browser(users["accountant"]).post("/journal-entries/new/", data)
    assert response.status_code == 422
    html = response.content.decode()
    assert "unknown, inactive or belongs to another entity" in html
    assert "Account cannot be used" in html


def test_save_and_submit_above_threshold_routes_to_approval(books, users):
    response = browser(users["accountant"]).post(
        "/journal-entries/new/", entry_form(books, BIG, submit=True), follow=True
    )
    entry = JournalEntry.objects.get()
    assert entry.status == Status.PENDING_APPROVAL
    assert "waits for an approver" in response.content.decode()


def test_save_and_submit_under_the_threshold_posts_once_even_when_replayed(books, users):
    client = browser(users["accountant"])
    small = [("6000", "DEBIT", "250.00"), ("1000", "CREDIT", "250.00")]
    form = entry_form(books, small, submit=True)
    responses = [client.post("/journal-entries/new/", form, follow=True) for _ in range(2)]
    entry = JournalEntry.objects.get()
    assert entry.status == Status.POSTED and entry.auto_approved
    assert all("Submitted and posted" in r.content.decode() for r in responses)
    assert AccountBalance.objects.get(account=books.account("6000")).balance_minor == 25_000
    assert list(entry.history.values_list("history_type", "status")) == [("+", "POSTED")]


def test_save_and_submit_after_a_saved_draft_submits_that_draft(books, users):
    client = browser(users["accountant"])
    client.post("/journal-entries/new/", entry_form(books, BIG))
    response = client.post(
        "/journal-entries/new/", entry_form(books, BIG, submit=True), follow=True
    )
    entry = JournalEntry.objects.get()
    assert entry.status == Status.PENDING_APPROVAL
    assert "waits for an approver" in response.content.decode()


def test_submit_button_posts_an_entry_under_the_threshold(books, users):
    client = browser(users["accountant"])
    small = [("6000", "DEBIT", "250.00"), ("1000", "CREDIT", "250.00")]
    client.post("/journal-entries/new/", entry_form(books, small))
    entry = JournalEntry.objects.get()
    page = client.get(f"/journal-entries/{entry.id}/").content.decode()
    assert 'data-testid="submit-entry"' in page
    response = client.post(f"/journal-entries/{entry.id}/submit/", follow=True)
    entry = JournalEntry.objects.get(pk=entry.pk)
    assert entry.status == Status.POSTED and entry.auto_approved
    assert "Submitted and posted" in response.content.decode()
    assert AccountBalance.objects.get(account=books.account("6000")).balance_minor == 25_000


def test_approver_approves_from_the_queue(books, users):
    entry = pending_entry(books, users["accountant"])
    client = browser(users["approver"])
    queue = client.get("/approvals/").content.decode()
    assert f'data-testid="review-{entry.id}"' in queue
    detail = client.get(f"/journal-entries/{entry.id}/").content.decode()
    assert 'data-testid="approve-entry"' in detail
    response = client.post(f"/journal-entries/{entry.id}/approve/", follow=True)
    entry = JournalEntry.objects.get(pk=entry.pk)
    assert entry.status == Status.POSTED
    assert entry.approved_by == users["approver"]
    html = response.content.decode()
    assert "Approved and posted." in html
    assert 'data-status="POSTED"' in html
    approval = AuditEvent.objects.get(action="ledger.journal_entry_approve")
    assert (approval.actor, approval.channel, approval.ip) == ("carol", "UI", "198.51.100.4")
    assert AccountBalance.objects.get(account=books.account("1000")).balance_minor == -2_000_000
    assert "carol" in html and "198.51.100.4" in html  # history and audit trail on the page


def test_approve_button_is_hidden_from_the_preparer(books, users):
    preparer = users["preparer_approver"]
    entry = pending_entry(books, preparer)
    client = browser(preparer)
    detail = client.get(f"/journal-entries/{entry.id}/").content.decode()
    assert 'data-testid="approve-entry"' not in detail
    assert "another approver must approve it" in detail
    # Posting anyway is refused by the command, in words.
    response = client.post(f"/journal-entries/{entry.id}/approve/", follow=True)
    entry = JournalEntry.objects.get(pk=entry.pk)
    assert entry.status == Status.PENDING_APPROVAL
    assert "You prepared this entry; another approver must approve it." in (
        response.content.decode()
    )


def test_accountant_cannot_open_the_queue_or_approve(books, users):
    entry = pending_entry(books, users["accountant2"])
    client = browser(users["accountant"])
    assert client.get("/approvals/").status_code == 403
    assert client.post(f"/journal-entries/{entry.id}/approve/").status_code == 403
    detail = client.get(f"/journal-entries/{entry.id}/").content.decode()
    assert 'data-testid="approve-entry"' not in detail


def test_reject_needs_a_reason_and_returns_the_entry_to_draft(books, users):
    entry = pending_entry(books, users["accountant"])
    client = browser(users["approver"])
    client.post(f"/journal-entries/{entry.id}/reject/", {"reason_code": "WRONG_ACCOUNT"})
    entry = JournalEntry.objects.get(pk=entry.pk)
    assert entry.status == Status.PENDING_APPROVAL
    client.post(
        f"/journal-entries/{entry.id}/reject/",
        {"reason_code": "WRONG_ACCOUNT", "reason": "Use 6100 Travel"},
    )
    entry = JournalEntry.objects.get(pk=entry.pk)
    assert entry.status == Status.DRAFT
    assert (entry.rejection_reason_code, entry.rejection_reason) == (
        "WRONG_ACCOUNT",
        "Use 6100 Travel",
    )


def test_void_a_draft(books, users):
    client = browser(users["accountant"])
    client.post("/journal-entries/new/", entry_form(books, BIG))
    entry = JournalEntry.objects.get()
    client.post(f"/journal-entries/{entry.id}/void/", {"reason": "Entered twice"})
    entry = JournalEntry.objects.get(pk=entry.pk)
    assert entry.status == Status.VOID and entry.void_reason == "Entered twice"


def test_list_filters_by_status_and_text(books, users):
    pending_entry(books, users["accountant"])
    client = browser(users["accountant"])
    client.post("/journal-entries/new/", entry_form(books, BIG, memo="Quarterly insurance"))
    html = client.get("/journal-entries/", {"status": "DRAFT"}).content.decode()
    assert "Quarterly insurance" in html and "Big accrual" not in html
    html = client.get("/journal-entries/", {"q": "accrual"}).content.decode()
    assert "Big accrual" in html and "Quarterly insurance" not in html


def test_dashboard_counts(books, users):
    pending_entry(books, users["accountant"])
    html = browser(users["approver"]).get("/").content.decode()
    assert 'data-testid="stat-queue"' in html
    assert "In your approval queue" in html


def test_detail_paginates_huge_entries(books, users):
    actor = Actor(user=users["accountant"], channel="UI")
    lines = [LineInput(books.account("6000").id, "DEBIT", 100, "USD") for _ in range(250)]
    lines.append(LineInput(books.account("1000").id, "CREDIT", 25_000, "USD"))
    entry = commands.journal_entry_create(
        actor,
        entity_id=books.entity.id,
        period_id=books.period.id,
        posting_date=TODAY,
        lines=lines,
    )
    client = browser(users["accountant"])
    first = client.get(f"/journal-entries/{entry.id}/").content.decode()
    assert "Page 1 of 3" in first
    assert 'data-testid="entry-total-debit">250.00' in first
    last = client.get(f"/journal-entries/{entry.id}/", {"page": 3}).content.decode()
    assert "Page 3 of 3" in last


def test_trial_balance_totals_are_equal(books, users):
    entry = pending_entry(books, users["accountant"])
    commands.journal_entry_approve(Actor(user=users["approver"], channel="UI"), entry_id=entry.id)
    html = (
        browser(users["accountant"])
        .get("/trial-balance/", {"entity": str(books.entity.id), "as_of": TODAY.isoformat()})
        .content.decode()
    )
    assert 'data-testid="tb-total-debit">20,000.00' in html
    assert 'data-testid="tb-total-credit">20,000.00' in html
    assert 'data-testid="tb-balanced"' in html


def test_screens_require_login(books):
    response = Client().get("/journal-entries/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
