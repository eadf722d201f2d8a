"""The sessions list, the users page and the costs page by user and tag, read
from the attribution rollups: filters, orders and paging."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.utils import timezone

from calls.models import LLMCall
from costs.rollups import COMMIT_LAG, rollups_update
from dashkit.filters import filters_parse
from llm_gateway.session_selectors import session_list

pytestmark = pytest.mark.django_db


def call(minutes_ago: float, **fields) -> LLMCall:
    values = {
        "agent_name": "planner",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "created_at": timezone.now() - timedelta(minutes=minutes_ago),
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        **fields,
    }
    values.setdefault("recorded_at", values["created_at"])
    return LLMCall.objects.create(**values)


def rolled_up() -> None:
    rollups_update(now=timezone.now() + COMMIT_LAG)


def query(text: str):
    from django.http import QueryDict

    return filters_parse(QueryDict(text))


# --- sessions ---------------------------------------------------------------------------


def test_sessions_filter_by_agent_tag_user_and_window(staff_client):
    call(5, session_id="a", agent_name="writer", tags={"env": "prod"}, end_user="u1")
    call(4, session_id="a", agent_name="planner")
    call(3, session_id="b", tags={"env": "dev"}, end_user="u2")
    call(60 * 30, session_id="old")  # 30 hours ago: outside 24 h
    rolled_up()

    def ids(qs: str) -> list[str]:
        return [s.session_id for s in session_list(filters=query(qs)).rows]

    assert ids("range=24h") == ["b", "a"]
    assert ids("range=7d") == ["b", "a", "old"]
    assert ids("agent=writer") == ["a"]  # any of the session's agents
    assert ids("agent=planner") == ["b", "a", "old"][:2]
    assert ids("tag=env=prod") == ["a"]
    assert ids("tag=env") == ["b", "a"]  # a bare name: any value
    assert ids("user=u2") == ["b"]
    page = staff_client.get("/sessions/?range=24h&tag=env%3Ddev").content.decode()
    assert 'href="/sessions/b/"' in page and 'href="/sessions/a/"' not in page


def test_sessions_sort_by_cost_calls_duration_and_errors():
    call(10, session_id="long", cost=Decimal("0.001"))
    call(1, session_id="long", cost=Decimal("0.001"))
    call(2, session_id="dear", cost=Decimal("0.5"), status="error")
    call(3, session_id="busy")
    call(3, session_id="busy")
    call(3, session_id="busy")
    rolled_up()

    def first(order: str) -> str:
        return session_list(filters=query(f"order={order}")).rows[0].session_id

    assert first("recent") == "long"
    assert first("cost") == "dear"
    assert first("calls") == "busy"
    assert first("duration") == "long"
    assert first("errors") == "dear"


@pytest.mark.parametrize("order", ["recent", "cost", "calls", "duration", "errors"])
def test_session_pages_walk_every_session_once_even_when_values_tie(order):
    for i in range(7):
        call(i % 3, session_id=f"s{i}", cost=Decimal("0.01"))  # ties on every order
    rolled_up()
    seen, after = [], ""
    while True:
        page = session_list(filters=query(f"order={order}"), after=after, size=3)
        seen += [s.session_id for s in page.rows]
        if not page.next_cursor:
            break
        after = page.next_cursor
    assert sorted(seen) == [f"s{i}" for i in range(7)]


def test_a_forged_session_cursor_gives_the_first_page():
    call(1, session_id="x")
    rolled_up()
    assert [s.session_id for s in session_list(filters=query(""), after="bm9wZQ").rows] == ["x"]


def test_the_list_links_sessions_with_slashes_and_spaces_to_their_page(staff_client):
    call(1, session_id="run 7/step?a#b")
    rolled_up()
    page = staff_client.get("/sessions/").content.decode()
    href = re.search(r'href="(/sessions/run[^"]+)"', page).group(1)
    assert href == f"/sessions/{quote('run 7/step?a#b', safe='')}/"
    assert staff_client.get(href).status_code == 200


def test_the_sessions_next_page_link_keeps_the_order(staff_client, monkeypatch):
    from llm_gateway import session_selectors

    for i in range(3):
        call(i, session_id=f"s{i}", cost=Decimal(i))
    rolled_up()
    monkeypatch.setattr(session_selectors, "LIST_SIZE", 2)
    page = staff_client.get("/sessions/?order=cost").content.decode()
    assert "order=cost&amp;after=" in page


# --- users ------------------------------------------------------------------------------


def test_users_page_ranks_users_and_links_their_calls_and_sessions(staff_client):
    call(5, end_user="big spender", cost=Decimal("2.5"))
    call(4, end_user="big spender", cost=Decimal("1"), status="error")
    call(3, end_user="small", cost=Decimal("0.01"), agent_name="writer")
    call(2)  # no user
    rolled_up()
    page = staff_client.get("/users/?order=cost").content.decode()
    assert page.index("big spender") < page.index(">small<")
    assert "$3.50" in page
    assert "/requests/?range=24h&amp;user=big%20spender" in page
    assert "/sessions/?range=24h&amp;user=big%20spender" in page
    assert 'class="chart"' in page  # the trend of the top spenders
    by_agent = staff_client.get("/users/?agent=writer").content.decode()
    assert ">small<" in by_agent and "big spender" not in by_agent


def test_users_page_orders_and_pages(staff_client, monkeypatch):
    from costs import attribution_reads

    for i in range(5):
        call(i, end_user=f"user-{i}", cost=Decimal(i))
    rolled_up()
    monkeypatch.setattr(attribution_reads, "USERS_PAGE_SIZE", 2)
    first = attribution_reads.users_page(filters=query("order=cost"))
    third = attribution_reads.users_page(filters=query("order=cost"), page=3)
    recent = attribution_reads.users_page(filters=query(""))
    assert [u.end_user for u in first.rows] == ["user-4", "user-3"] and first.has_next
    assert [u.end_user for u in third.rows] == ["user-0"] and not third.has_next
    assert recent.rows[0].end_user == "user-0"  # seen most recently
    assert staff_client.get("/users/?page=nope").status_code == 200


def test_users_page_is_staff_only(client):
    response = client.get("/users/")
    assert response.status_code in (302, 403)


# --- costs ------------------------------------------------------------------------------


def test_costs_page_filters_by_user_and_by_tag(staff_client):
    call(5, end_user="acme", cost=Decimal("1.25"), tags={"team": "search"})
    call(4, end_user="other", cost=Decimal("4"), tags={"team": "chat"})
    rolled_up()
    by_user = staff_client.get("/costs/?user=acme").content.decode()
    assert "$1.25" in by_user and "$5.25" not in by_user
    by_tag = staff_client.get("/costs/?tag=team%3Dchat").content.decode()
    assert "$4.00" in by_tag and "$5.25" not in by_tag
    everyone = staff_client.get("/costs/").content.decode()
    assert "$5.25" in everyone


def test_costs_exports_follow_the_user_and_tag_filters(staff_client):
    import csv
    import io

    call(5, end_user="acme", cost=Decimal("1.25"), tags={"team": "search"})
    call(4, end_user="=other", cost=Decimal("4"), tags={"team": "chat"})
    rolled_up()

    def csv_rows(qs: str) -> list[dict[str, str]]:
        body = b"".join(staff_client.get(f"/costs/export.csv?{qs}").streaming_content)
        return list(csv.DictReader(io.StringIO(body.decode())))

    by_user = csv_rows("range=7d&user=acme")
    assert [(r["model"], Decimal(r["cost_usd"])) for r in by_user] == [
        ("gpt-4o-mini", Decimal("1.25"))
    ]
    by_tag = csv_rows("range=7d&tag=team%3Dchat&group=tag")
    assert [(r["tag"], Decimal(r["cost_usd"])) for r in by_tag] == [("team=chat", Decimal(4))]
    stacked = csv_rows("range=7d&group=user")
    assert {r["user"] for r in stacked} == {"acme", "'=other"}  # formulas defused
    assert sum(Decimal(r["cost_usd"]) for r in csv_rows("range=7d")) == Decimal("5.25")


def test_costs_page_stacks_by_user_and_tag():
    from costs.usage_series import spend_series

    call(5, end_user="acme", cost=Decimal("1.25"), tags={"team": "search"})
    call(4, end_user="other", cost=Decimal("4"), tags={"team": "chat"})
    rolled_up()
    by_user = spend_series(filters=query("group=user&range=7d"), group_by="user")
    assert {s.name: sum(s.y) for s in by_user} == {"other": 4.0, "acme": 1.25}
    by_tag = spend_series(filters=query("group=tag&range=7d"), group_by="tag")
    assert {s.name for s in by_tag} == {"team=chat", "team=search"}
    # A user cannot be combined with a tag: the tag's spend is shown by model.
    mixed = spend_series(filters=query("group=user&tag=team"), group_by="user")
    assert [s.name for s in mixed] == ["gpt-4o-mini"]


def test_costs_page_charts_cache_savings(staff_client):
    from costs.usage_series import cache_savings_series

    call(5, cache_hit=True, saved_cost=Decimal("0.75"))
    call(4)
    rolled_up()
    saved, rate, total = cache_savings_series(filters=query("range=24h"))
    assert total == Decimal("0.75") and sum(saved.y) == 0.75
    assert [v for v in rate.y if v is not None] == [50.0]
    page = staff_client.get("/costs/").content.decode()
    assert "Response cache savings" in page and "$0.75 saved" in page


@pytest.mark.parametrize("qs", ["range=30d", "range=30d&user=acme", "range=30d&group=tag"])
def test_cached_costs_sections_hold_no_queryset(qs, django_assert_num_queries):
    """Long-window sections are pickled into the cache: a queryset there would be
    fetched whole on every store (a 30-day window is thousands of rollup rows)."""
    import pickle

    from costs.views import COSTS_SECTIONS

    call(5, end_user="acme", cost=Decimal("1"), tags={"team": "search"})
    rolled_up()
    contexts = {name: section.build(query(qs)) for name, section in COSTS_SECTIONS.items()}
    with django_assert_num_queries(0):
        pickle.dumps(contexts)
