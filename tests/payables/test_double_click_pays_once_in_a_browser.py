"""Real Chromium: the AP clerk pays a bill from its screen, double-clicks, and then goes
back and submits the same form again; exactly one payment exists.

Uses Debian's /usr/bin/chromium (never a downloaded browser).
"""

from payables.models import Bill, Payment
from tests.browser import log_in
from tests.payables.conftest import assert_invariants_hold


def test_clerk_double_clicks_pay_and_exactly_one_payment_exists(base_url, books, bill, page):
    base = base_url
    log_in(page, base, "erin")

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
