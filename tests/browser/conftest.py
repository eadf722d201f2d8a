"""Headless Chromium for browser tests: Debian's binary, never a downloaded browser."""

from __future__ import annotations

import os
import random
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
    """Demo history plus rollups and some validation results, as the real jobs would make."""
    from django.core.management import call_command

    from calls.models import LLMCall
    from validation.models import ValidationResult

    call_command("load_prices", verbosity=0)
    # seed_demo_data rebuilds the rollups itself, as `make run` relies on.
    call_command("seed_demo_data", calls=3000, days=30, stdout=open(os.devnull, "w"))  # noqa: SIM115
    rng = random.Random(3)
    results = []
    for call in LLMCall.objects.filter(status="success")[:1500]:
        valid = rng.random() > 0.12
        family = rng.choice(["quality", "format", "safety", "business"])
        checks = [
            {
                "name": f"{family}_check_{rng.randint(1, 4)}",
                "family": family,
                "passed": valid,
                "severity": "warning",
                "message": "ok" if valid else "did not pass",
            }
        ]
        results.append(
            ValidationResult(
                call=call,
                is_valid=valid,
                quality_score=rng.uniform(0.8, 1.0) if valid else rng.uniform(0.2, 0.6),
                checks=checks,
                failed_families=[] if valid else [family],
                agent_name=call.agent_name,
                created_at=call.created_at,
            )
        )
    ValidationResult.objects.bulk_create(results)


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
