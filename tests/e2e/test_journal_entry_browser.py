"""Real Chromium through the screens: an accountant prepares and submits an entry above the
threshold, an approver approves it from the queue, the balances move.

Uses Debian's /usr/bin/chromium (never a downloaded browser). Screenshots of the key
screens go to artifacts/screenshots/.
"""

import os
import re
from pathlib import Path

import pytest
from django.db import connections

from ledger.models import AccountBalance, JournalEntry
from platform_integrity.models import AuditEvent
from tests.conftest import TODAY, make_books, make_user

# Playwright's sync API runs an event loop in this thread; the ORM calls made here are
# still plain synchronous calls, so Django's async guard has nothing to protect.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PASSWORD = "correct-horse-battery"


@pytest.fixture
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()
        # Under Playwright's running loop Django keys its connections to the loop's context,
        # so the ones the test opened there are closed here, before the test database goes.
        connections.close_all()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page, base_url: str, username: str, screenshot: str | None = None) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    if screenshot:
        shot(page, screenshot)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def fill_line(page, index: int, account: str, direction: str, amount: str) -> None:
    row = page.get_by_test_id("line-row").nth(index)
    row.get_by_test_id("line-account").select_option(label=account)
    row.get_by_test_id("line-direction").select_option(direction)
    row.get_by_test_id("line-amount").fill(amount)


def test_accountant_submits_and_approver_approves_from_queue(
    django_db_setup, live_server, transactional_db, fast_passwords, page
):
    # django_db_setup first: the test database then outlives the live server's connections.
    books = make_books()
    make_user("alice", "accountant", password=PASSWORD)
    make_user("carol", "approver", password=PASSWORD)
    expect = sync_api.expect
    base = live_server.url

    # The accountant prepares an entry above the 10,000.00 USD threshold.
    log_in(page, base, "alice", screenshot="01_login")
    page.get_by_test_id("new-entry-link").first.click()
    page.wait_for_url(f"{base}/journal-entries/new/")
    page.get_by_test_id("entity").select_option(label="Rivane US Inc. (USD)")
    page.fill("#id_posting_date", TODAY.isoformat())
    page.fill("#id_memo", "November office move")
    fill_line(page, 0, "6000 · Office expenses", "DEBIT", "7,500.00")
    fill_line(page, 1, "6100 · Travel", "DEBIT", "5,000.00")
    expect(page.get_by_test_id("difference")).to_have_text("12,500.00")
    page.get_by_test_id("add-line").click()
    expect(page.get_by_test_id("line-row")).to_have_count(3)
    expect(page.get_by_test_id("line-row").nth(2).get_by_test_id("line-currency")).to_have_value(
        "USD"
    )
    fill_line(page, 2, "1000 · Cash at bank", "CREDIT", "12500")
    expect(page.get_by_test_id("total-debit")).to_have_text("12,500.00")
    expect(page.get_by_test_id("total-credit")).to_have_text("12,500.00")
    expect(page.get_by_test_id("difference")).to_have_text("0.00")
    shot(page, "02_new_entry_filled")
    page.get_by_test_id("save-and-submit").click()
    page.wait_for_url(re.compile(r".*/journal-entries/[0-9a-f-]{36}/$"))
    expect(page.get_by_test_id("entry-status")).to_have_attribute("data-status", "PENDING_APPROVAL")
    expect(page.locator(".messages")).to_contain_text("waits for an approver")
    expect(page.get_by_test_id("approve-entry")).to_have_count(0)
    entry_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{base}/accounts/login/")

    # The approver finds it in the queue and approves it.
    log_in(page, base, "carol")
    page.goto(f"{base}/approvals/")
    expect(page.get_by_test_id("approval-queue")).to_contain_text("November office move")
    shot(page, "03_approvals_queue")
    page.get_by_test_id(f"review-{entry_id}").click()
    page.get_by_test_id("approve-entry").click()
    expect(page.get_by_test_id("entry-status")).to_have_attribute("data-status", "POSTED")
    expect(page.get_by_test_id("approved-by")).to_contain_text("carol")
    expect(page.get_by_test_id("audit-trail")).to_contain_text("ledger.journal_entry_approve")
    shot(page, "04_posted_entry_detail")

    page.goto(f"{base}/trial-balance/?entity={books.entity.id}&as_of={TODAY.isoformat()}")
    expect(page.get_by_test_id("tb-total-debit")).to_have_text("12,500.00")
    expect(page.get_by_test_id("tb-total-credit")).to_have_text("12,500.00")
    expect(page.get_by_test_id("tb-balanced")).to_be_visible()
    shot(page, "05_trial_balance")

    entry = JournalEntry.objects.get(pk=entry_id)
    assert entry.status == JournalEntry.Status.POSTED
    assert entry.prepared_by.username == "alice"
    assert entry.approved_by.username == "carol"
    assert entry.total_debit_minor == 1_250_000
    balances = {
        b.account.code: b.balance_minor
        for b in AccountBalance.objects.filter(entity=books.entity).select_related("account")
    }
    assert balances["6000"] == 750_000
    assert balances["6100"] == 500_000
    assert balances["1000"] == -1_250_000
    assert sum(balances.values()) == 0
    approval = AuditEvent.objects.get(action="ledger.journal_entry_approve", object_id=entry_id)
    assert (approval.actor, approval.channel, approval.ip) == ("carol", "UI", "127.0.0.1")
