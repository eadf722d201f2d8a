"""The sessions list, the users page and the costs page by user, in Chromium at
laptop and phone widths, with sessions, users and tags in the data."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.browser.conftest import LAPTOP, PHONE, SCREENSHOTS
from tests.browser.test_dashboards import _wait_for_query_param, _wait_until_every_chart_drew

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SESSION = "support chat/4711"  # a space and a slash: the link must still open it
# Not among the demo's own accounts (llm_gateway.demo_sessions), whose spend would add up.
CUSTOMERS = ["tenant-a", "tenant-b", "tenant-c", "tenant-d"]


@pytest.fixture
def attributed_calls(seeded_demo) -> None:
    """A few customers' sessions over the last days, beside the demo traffic."""
    from calls.models import LLMCall
    from costs.rollups import rollups_rebuild

    now = timezone.now()
    calls = []
    for day in range(6):
        for i, user in enumerate(CUSTOMERS):
            for step in range(i + 2):
                at = now - timedelta(days=day, hours=i, minutes=10 - step)
                calls.append(
                    LLMCall(
                        created_at=at,
                        recorded_at=at,
                        agent_name=("Support Bot", "CTO Agent")[step % 2],
                        model="gpt-4o-mini",
                        provider="openai",
                        session_id=SESSION if (day, i) == (0, 0) else f"{user}/run-{day}",
                        end_user=user,
                        tags={"env": "prod", "team": ("search", "support")[i % 2]},
                        prompt_tokens=400,
                        completion_tokens=120,
                        total_tokens=520,
                        cost=Decimal("0.0125") * (i + 1),
                        status="error" if step == 3 else "success",
                    )
                )
    LLMCall.objects.bulk_create(calls)
    rollups_rebuild(start=now - timedelta(days=7), end=now + timedelta(minutes=1))


@pytest.mark.parametrize(("width", "viewport"), [("laptop", LAPTOP), ("phone", PHONE)])
def test_users_and_sessions_pages_look_right(
    live_server, open_page, attributed_calls, width, viewport
):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page, errors = open_page(viewport)

    page.goto(f"{live_server.url}/users/?range=7d&order=cost")
    assert _wait_until_every_chart_drew(page, "/users/") == 1
    names = page.locator("table.users tbody tr td:first-child").all_inner_texts()
    # The demo's own customers are listed too; ours rank by what they spent.
    assert [n for n in names if n in CUSTOMERS] == CUSTOMERS[::-1]  # tenant-d spends most
    assert _overflow(page) <= 1, "the users page scrolls sideways"
    page.screenshot(path=str(SCREENSHOTS / f"users-{width}.png"), full_page=True)

    page.goto(f"{live_server.url}/sessions/?range=7d")
    assert page.locator("table.sessions tbody tr").count() >= 24
    assert _overflow(page) <= 1, "the sessions list scrolls sideways"
    page.get_by_role("link", name="Most expensive").click()
    _wait_for_query_param(page, "order", "cost")
    page.screenshot(path=str(SCREENSHOTS / f"sessions-{width}.png"), full_page=True)
    page.goto(f"{live_server.url}/sessions/?range=7d&user=tenant-a")
    page.locator("table.sessions a", has_text=SESSION).click()
    page.wait_for_url(lambda url: "/sessions/support%20chat%2F4711/" in url)
    assert SESSION in page.locator("h1, main").first.inner_text()

    page.goto(f"{live_server.url}/costs/?range=7d&group=user")
    assert _wait_until_every_chart_drew(page, "/costs/ by user") >= 3
    page.screenshot(path=str(SCREENSHOTS / f"costs-by-user-{width}.png"), full_page=True)
    assert errors == []


def _overflow(page) -> int:
    """How far the page is wider than the window (a table must scroll in its own box)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
