"""Real Chromium through the screens: an accountant prepares and submits an entry above the
threshold, an approver approves it from the queue, the balances move.

Uses Debian's /usr/bin/chromium (never a downloaded browser). Screenshots of the key
screens go to artifacts/screenshots/.
"""

import re

from playwright.sync_api import expect

from ledger.models import AccountBalance, JournalEntry
from platform_integrity.models import AuditEvent
from tests.browser import PASSWORD, log_in, log_out, shot
from tests.conftest import TODAY, make_books, make_user


def fill_line(page, index: int, account: str, direction: str, amount: str) -> None:
    row = page.get_by_test_id("line-row").nth(index)
    row.get_by_test_id("line-account").select_option(label=account)
    row.get_by_test_id("line-direction").select_option(direction)
    row.get_by_test_id("line-amount").fill(amount)


def test_accountant_submits_and_approver_approves_from_queue(base_url, page):
    books = make_books()
    make_user("alice", "accountant", password=PASSWORD)
    make_user("carol", "approver", password=PASSWORD)
    base = base_url

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
    log_out(page, base)

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
