"""Every dashboard in real headless Chromium: charts drawn, HTMX updates, screenshots."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.conftest import LAPTOP, PHONE, SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Path, and how many charts it draws at least with the demo data.
PAGES = {
    "overview": ("/", 2),
    "costs": ("/costs/?range=30d", 3),
    "budgets": ("/costs/budgets/", 3),
    "alerts": ("/costs/alerts/", 0),
    "quality": ("/quality/?range=30d", 2),
    "performance": ("/performance/?range=7d", 4),
    "requests": ("/requests/?range=7d", 0),
    "keys": ("/keys/", 0),
}


def _wait_until_every_chart_drew(page, path: str) -> int:
    """Every figure's div holds a drawn plot (Plotly's SVG), counted on the driver's side."""
    charts = page.locator(".chart")
    for _ in range(100):
        drawn = page.locator(".chart .js-plotly-plot .main-svg").count()
        if drawn >= charts.count():
            return charts.count()
        page.wait_for_timeout(100)
    raise AssertionError(f"{path}: {drawn} of {charts.count()} charts drew")


def _query_param(page, name: str) -> str | None:
    return page.evaluate(f"new URLSearchParams(location.search).get('{name}')")


def _wait_for_query_param(page, name: str, value: str) -> None:
    """Waits on the driver's side, never with a string predicate in the page.

    Playwright compiles a string predicate with ``eval``; the dashboards' CSP
    forbids that, and Chromium lets it through only when the first check
    already holds, so such a wait failed whenever the server was slow.
    """
    page.wait_for_url(lambda url: parse_qs(urlsplit(url).query).get(name) == [value])


@pytest.mark.parametrize(("width", "viewport"), [("laptop", LAPTOP), ("phone", PHONE)])
def test_every_page_draws_its_charts(live_server, open_page, seeded_demo, width, viewport):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page, errors = open_page(viewport)
    for name, (path, charts) in PAGES.items():
        page.goto(live_server.url + path)
        assert _wait_until_every_chart_drew(page, path) >= charts, path
        assert page.locator(".topbar").is_visible()
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    page.goto(live_server.url + "/requests/?range=7d")
    call_link = page.locator("table.calls tbody tr a").first
    call_link.click()
    page.wait_for_selector("text=Cost and timing")
    assert page.locator("pre.body").count() >= 2  # the demo stores (redacted) bodies
    page.screenshot(path=str(SCREENSHOTS / f"request-detail-{width}.png"), full_page=True)
    assert errors == []


def test_filter_change_updates_the_partial_without_a_reload(live_server, open_page, seeded_demo):
    page, errors = open_page(LAPTOP)
    page.goto(live_server.url + "/performance/?range=30d")
    page.wait_for_selector(".js-plotly-plot .main-svg")
    page.evaluate("window.__marker = 1")
    with page.expect_response(lambda r: r.request.headers.get("hx-target") == "page-body"):
        page.select_option("select[name=agent]", "Support Bot")
    _wait_for_query_param(page, "agent", "Support Bot")
    assert _query_param(page, "model") is None  # empty filters stay out of shared links
    page.wait_for_selector("#perf-latency .js-plotly-plot .main-svg")
    assert page.evaluate("window.__marker") == 1
    assert "agent=Support+Bot" in page.get_attribute("#perf-latency", "hx-get")

    page.goto(live_server.url + "/requests/?range=30d")
    page.evaluate("window.__marker = 2")
    with page.expect_response(lambda r: r.request.headers.get("hx-target") == "page-body"):
        page.select_option("select[name=status]", "error")
    _wait_for_query_param(page, "status", "error")
    assert page.evaluate("window.__marker") == 2
    assert page.locator("table.calls .badge-ok").count() == 0
    assert errors == []


def test_time_range_picker_switches_window_in_place(live_server, open_page, seeded_demo):
    page, errors = open_page(LAPTOP)
    page.goto(live_server.url + "/costs/?range=24h")
    page.evaluate("window.__marker = 3")
    with page.expect_response(lambda r: r.request.headers.get("hx-target") == "page-body"):
        page.click("label:has(input[value='7d'])")
    _wait_for_query_param(page, "range", "7d")
    page.wait_for_selector("#costs-spend .js-plotly-plot .main-svg")
    assert page.evaluate("window.__marker") == 3
    assert errors == []


def test_empty_dashboards_explain_what_to_do(live_server, open_page):
    page, errors = open_page(LAPTOP)
    page.goto(live_server.url + "/performance/")
    assert page.locator(".empty-chart").count() >= 3
    page.screenshot(path=str(SCREENSHOTS / "performance-empty-laptop.png"), full_page=True)
    page.goto(live_server.url + "/")
    assert page.locator("text=No usage rolled up this month yet").is_visible()
    page.screenshot(path=str(SCREENSHOTS / "overview-empty-laptop.png"), full_page=True)
    assert errors == []
