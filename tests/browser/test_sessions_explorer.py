"""A session's page and the request explorer's attribution columns in real
headless Chromium, on the demo data `make run` seeds: a laptop and a phone."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from calls.models import LLMCall
from tests.browser.conftest import LAPTOP, PHONE, SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = [("laptop", LAPTOP), ("phone", PHONE)]


def _research_run() -> str:
    """A demo agent run with a path-like id (a slash), tool calls and several steps."""
    return (
        LLMCall.objects.filter(session_id__startswith="research/", step="review")
        .order_by("-created_at")
        .values_list("session_id", flat=True)
        .first()
    )


def _no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize(("width", "viewport"), WIDTHS)
def test_a_session_page_draws_its_waterfall_and_conversation(
    live_server, open_page, seeded_demo, width, viewport
):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    session = _research_run()
    steps = LLMCall.objects.filter(session_id=session).count()
    page, errors = open_page(viewport)
    page.goto(f"{live_server.url}/sessions/{quote(session, safe='')}/")
    page.wait_for_selector("#session-timeline .js-plotly-plot .main-svg")
    # One bar per call, each a Plotly bar point.
    assert page.locator("#session-timeline .bars .point").count() == steps
    assert page.locator(".turn").count() == steps
    assert page.locator(".msg-user").count() >= 1
    assert page.locator(".msg-call .tool-name").count() >= 2  # web_search, fetch_page
    assert page.locator(".msg-tool").count() >= 2  # their results
    assert page.locator(".msg-assistant").count() >= 1
    assert _no_horizontal_scroll(page)
    page.screenshot(path=str(SCREENSHOTS / f"session-detail-{width}.png"), full_page=True)
    page.locator(".turn-head a").first.click()
    page.wait_for_selector("text=Cost and timing")
    assert errors == []


@pytest.mark.parametrize(("width", "viewport"), WIDTHS)
def test_the_explorer_shows_attribution_and_exports_what_it_shows(
    live_server, open_page, seeded_demo, width, viewport
):
    page, errors = open_page(viewport)
    page.goto(f"{live_server.url}/requests/?range=30d")
    headers = page.locator("table.calls thead th").all_inner_texts()
    assert {"PROMPT", "SESSION", "USER", "TAGS"} <= {h.strip().upper() for h in headers}
    previews = page.locator("table.calls td.preview").all_inner_texts()
    assert sum(1 for p in previews if p.strip() not in ("", "—")) >= 40
    assert page.locator("table.calls td.attr a[href^='/sessions/']").count() >= 1
    assert page.locator("table.calls td.tags .tag").count() >= 50
    # The prompt: its own column on a laptop, under the time on a phone.
    shown = "td.preview" if width == "laptop" else ".preview-sm"
    assert page.locator(f"table.calls {shown}").first.is_visible()
    assert page.locator("table.calls td.tags").first.is_visible() == (width == "laptop")
    assert _no_horizontal_scroll(page)
    page.screenshot(path=str(SCREENSHOTS / f"requests-attribution-{width}.png"), full_page=True)

    # A filter change swaps the results in place; the export links follow it.
    with page.expect_response(lambda r: r.request.headers.get("hx-target") == "page-body"):
        page.select_option("select[name=agent]", "Support Bot")
    page.wait_for_selector(".export-links a[href*='agent=Support+Bot']")
    href = page.get_attribute(".export-links a[href*='export.jsonl']", "href")
    lines = page.request.get(live_server.url + href).text().splitlines()
    assert lines and all('"agent_name": "Support Bot"' in line for line in lines)
    assert errors == []
