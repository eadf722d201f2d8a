"""Headless Chromium for browser tests: Debian's binary, never a downloaded browser."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
LAPTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
PASSWORD = "browser-pass-123"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Module-scoped: Playwright's sync API keeps an event loop running in this
    thread, which must be gone before other modules' tests call asyncio.run."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    # The ORM calls the tests make between page actions are plain synchronous
    # calls; Django only sees the loop Playwright keeps running in this thread.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with playwright_api.sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def seeded_demo(transactional_db) -> None:
    """What `make run` seeds: calls, rollups, keys, validation results, budgets, alerts."""
    from django.core.management import call_command

    call_command("load_prices", verbosity=0)
    call_command("seed_demo_data", calls=3000, days=30, stdout=open(os.devnull, "w"))  # noqa: SIM115


@pytest.fixture
def staff_login(transactional_db, django_user_model):
    django_user_model.objects.create_user(username="browser", password=PASSWORD, is_staff=True)

    def login(page, base_url: str) -> None:
        page.goto(f"{base_url}/accounts/login/")
        page.fill("#id_username", "browser")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base_url}/")

    return login


def watch_for_errors(page, errors: list[str]) -> None:
    """Collect what a person would see as broken: uncaught exceptions, console
    errors (a CSP refusal is one), failed requests and HTTP errors.

    Requests aborted by leaving the page (a poll in flight during ``goto``) are
    the browser's doing, not a failure of the app.
    """
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda msg: msg.type == "error" and errors.append(f"console: {msg.text[:300]}"),
    )
    page.on(
        "requestfailed",
        lambda request: (
            request.failure != "net::ERR_ABORTED"
            and errors.append(f"failed: {request.url} {request.failure}")
        ),
    )
    page.on(
        "response",
        lambda response: (
            response.status >= 400 and errors.append(f"HTTP {response.status}: {response.url}")
        ),
    )


@pytest.fixture
def open_page(browser, live_server, staff_login):
    """A logged-in page that records every error; its context closes before the
    database is flushed.

    Closing first stops the pages' polling, whose queries would otherwise hold
    SQLite's shared in-memory tables while the test database is emptied.
    """
    contexts = []

    def open_(viewport, *, before_login=None):
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        if before_login is not None:
            before_login(context)
        page = context.new_page()
        errors: list[str] = []
        watch_for_errors(page, errors)
        staff_login(page, live_server.url)
        return page, errors

    yield open_
    for context in contexts:
        context.close()
