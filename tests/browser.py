"""Real Chromium for the browser tests: Debian's /usr/bin/chromium, never a downloaded
browser. Each test logs in as the role that does the work and saves screenshots of the
screens it passes through under artifacts/screenshots/. Any test that asks for a browser
is marked e2e (tests/conftest.py)."""

import os
from pathlib import Path

import pytest
from django.db import connections

# Playwright's sync API runs an event loop in this thread; the ORM calls made in a test
# are still plain synchronous calls, so Django's async guard has nothing to protect.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

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
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
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
def new_page(browser):
    """Opens a page in a fresh browser context: one per person in a test that has two."""
    contexts = []

    def open_page():
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def base_url(django_db_setup, live_server, transactional_db):
    """The live server's address; the test database is set up first so that it outlives
    the server's connections."""
    return live_server.url


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


def log_out(page, base_url: str) -> None:
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{base_url}/accounts/login/")
