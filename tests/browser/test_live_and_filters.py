"""Polling, filters and small screens, as a person meets them in Chromium with DEBUG=false."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.conftest import LAPTOP, PHONE, SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECTIONS = {
    "overview-spend",
    "overview-health",
    "overview-today",
    "overview-top",
    "overview-attention",
}
SET_VISIBILITY = """hidden => {
  Object.defineProperty(document, "hidden", {value: hidden, configurable: true});
  Object.defineProperty(document, "visibilityState",
    {value: hidden ? "hidden" : "visible", configurable: true});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def _polls(page) -> list[str]:
    seen: list[str] = []
    page.on(
        "request",
        lambda r: r.headers.get("hx-target") in SECTIONS and seen.append(r.headers["hx-target"]),
    )
    return seen


def test_a_hidden_tab_sends_no_polls_and_catches_up_when_shown(live_server, open_page):
    page, errors = open_page(LAPTOP, before_login=lambda context: context.clock.install())
    page.goto(live_server.url + "/")
    polls = _polls(page)
    page.evaluate(SET_VISIBILITY, True)
    page.clock.run_for(95_000)  # every card's interval (15-60 s) passes at least once
    page.wait_for_timeout(300)
    assert polls == []
    page.evaluate(SET_VISIBILITY, False)  # back after 95 s: every card refreshes at once
    page.wait_for_timeout(500)
    assert set(polls) == SECTIONS
    page.clock.run_for(16_000)
    page.wait_for_timeout(500)
    assert polls.count("overview-spend") >= 2  # and it polls again while visible
    assert errors == []


def _href_query(page, selector: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.get_attribute(selector, "href")).query)


WATCH_SETTLE = """() => {
  window.__settled = false;
  if (window.__watching) return;
  window.__watching = true;
  document.body.addEventListener("htmx:afterSettle", event => {
    if (event.detail.target && event.detail.target.id === "page-body") window.__settled = true;
  });
}"""


def _change_filter(page, action) -> None:
    """The response arriving is not the swap: the export links and the reset link
    change in the out-of-band swaps htmx makes after it, so wait for the settle."""
    page.evaluate(WATCH_SETTLE)
    action()
    page.wait_for_function("() => window.__settled === true")


def test_exports_and_clear_link_follow_every_filter_change(live_server, open_page, seeded_demo):
    page, errors = open_page(LAPTOP)
    page.goto(live_server.url + "/costs/?range=24h")
    assert _href_query(page, "a:text('Export CSV')")["range"] == ["24h"]
    _change_filter(page, lambda: page.click("label:has(input[value='7d'])"))
    _change_filter(page, lambda: page.select_option("select[name=agent]", "Support Bot"))
    for link in ("a:text('Export CSV')", "a:text('Export JSON')"):
        query = _href_query(page, link)
        assert (query["range"], query["agent"]) == (["7d"], ["Support Bot"])
    assert _href_query(page, "#filter-reset a") == {"range": ["7d"]}
    _change_filter(page, lambda: page.select_option("select[name=agent]", ""))
    assert page.locator("#filter-reset a").count() == 0
    assert "agent" not in _href_query(page, "a:text('Export CSV')")
    assert errors == []


ACCENT = "rgb(53, 83, 214)"  # --accent in app.css
SELECTED = f"""labels => labels
  .filter(l => getComputedStyle(l).backgroundColor === "{ACCENT}")
  .map(l => l.querySelector("input").value)"""


def test_one_time_range_shows_as_selected_after_a_change(live_server, open_page, seeded_demo):
    page, errors = open_page(LAPTOP)
    page.goto(live_server.url + "/performance/?range=24h")
    assert page.locator(".segmented label").evaluate_all(SELECTED) == ["24h"]
    _change_filter(page, lambda: page.click("label:has(input[value='30d'])"))
    assert page.locator(".segmented label").evaluate_all(SELECTED) == ["30d"]
    _change_filter(page, lambda: page.click("label:has(input[value='1h'])"))
    assert page.locator(".segmented label").evaluate_all(SELECTED) == ["1h"]
    assert errors == []


PHONE_PAGES = (
    "/",
    "/costs/?range=30d",
    "/costs/budgets/",
    "/costs/alerts/",
    "/quality/",
    "/performance/?range=7d",
    "/requests/?range=7d",
    "/keys/",
)
OVERFLOW = """() => ({
  page: document.documentElement.scrollWidth - window.innerWidth,
  unmarked: [...document.querySelectorAll(".table-wrap")]
    .filter(w => w.scrollWidth > w.clientWidth + 1 && !w.classList.contains("is-scrollable"))
    .length,
  marked: document.querySelectorAll(".table-wrap.is-scrollable").length,
})"""


def test_on_a_phone_every_page_is_one_tap_away_and_wide_tables_say_so(
    live_server, open_page, seeded_demo
):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page, errors = open_page(PHONE)
    marked = 0
    for path in PHONE_PAGES:
        page.goto(live_server.url + path)
        links = page.locator("nav.nav a")
        assert links.count() >= 9
        for i in range(links.count()):
            box = links.nth(i).bounding_box()
            assert links.nth(i).is_visible() and box["x"] >= 0
            assert box["x"] + box["width"] <= PHONE["width"], (path, links.nth(i).inner_text())
        state = page.evaluate(OVERFLOW)
        assert state["page"] <= 0, path  # the page itself never scrolls sideways
        assert state["unmarked"] == 0, path
        marked += state["marked"]
    assert marked > 0  # the requests table, at least, is wider than a phone
    page.goto(live_server.url + "/requests/?range=7d")
    hint = page.locator(".table-wrap.is-scrollable").first
    assert "Scroll sideways" in hint.evaluate("w => getComputedStyle(w, '::before').content")
    page.screenshot(path=str(SCREENSHOTS / "requests-scroll-hint-phone.png"))
    assert errors == []
