"""Real Chromium: the AP clerk pays a bill from its screen, double-clicks, and then goes
back and submits the same form again; exactly one payment exists.

Uses Debian's /usr/bin/chromium (never a downloaded browser).
"""

import os
from pathlib import Path

import pytest

from payables.models import Bill, Payment
from tests.payables.conftest import assert_invariants_hold

# Playwright's sync API runs an event loop in this thread; the ORM calls here stay synchronous.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]


@pytest.fixture
def page():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context()
        context.set_default_timeout(15_000)
        yield context.new_page()
        context.close()
        browser.close()


def test_clerk_double_clicks_pay_and_exactly_one_payment_exists(live_server, books, bill, page):
    base = live_server.url
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", "erin")
    page.fill("input[name=password]", "correct-horse-battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}/bills/{bill.id}/")
    assert page.input_value("input[name=amount_minor]") == str(bill.total_minor)
    page.dblclick("#pay-button")
    page.wait_for_selector(".messages li")
    assert "PAID" in page.inner_text("h1")

    # Back to the rendered form (same idempotency key, if the browser kept it) and pay again.
    page.go_back()
    if page.locator("#pay-button").count():
        page.evaluate("document.getElementById('pay-button').disabled = false")
        page.click("#pay-button")
        page.wait_for_load_state()
    assert Payment.objects.filter(bill=bill).count() == 1
    assert Bill.objects.get(pk=bill.pk).balance_due_minor == 0
    assert_invariants_hold()
