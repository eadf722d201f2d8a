"""The request explorer: how many calls match, and sorting that pages by keyset."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from calls.models import LLMCall
from dashkit.filters import filters_parse
from llm_gateway import selectors

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls():
    now = timezone.now()
    rows = [
        LLMCall(
            agent_name="A",
            model="gpt-4o",
            created_at=now - timedelta(minutes=i),
            cost=Decimal(str([3, 1, 3, 2, 5, 1, 4][i])) / 100,
            latency_ms=[900, 100, 500, 700, 300, 800, 200][i],
        )
        for i in range(7)
    ]
    return LLMCall.objects.bulk_create(rows)


def _walk(sort: str, size: int = 3) -> list[LLMCall]:
    filters = filters_parse(_query(range="24h", sort=sort))
    seen, after = [], ""
    while True:
        page = selectors.call_page(filters=filters, after=after, size=size)
        seen += page.calls
        if not page.next_cursor:
            return seen
        after = page.next_cursor


def _query(**params: str):
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    query.update(params)
    return query


@pytest.mark.parametrize(
    ("sort", "key", "reverse"),
    [
        ("cost", lambda c: (c.cost, c.id), True),
        ("latency", lambda c: (c.latency_ms, c.id), True),
        ("oldest", lambda c: (c.created_at, c.id), False),
        ("newest", lambda c: (c.created_at, c.id), True),
    ],
)
def test_every_order_pages_through_each_call_once_in_order(calls, sort, key, reverse):
    walked = _walk(sort)
    assert [c.id for c in walked] == [c.id for c in sorted(calls, key=key, reverse=reverse)]


def test_a_cursor_from_another_order_starts_again_from_the_top(calls):
    newest = selectors.call_page(filters=filters_parse(_query(range="24h")), size=3)
    by_cost = filters_parse(_query(range="24h", sort="cost"))
    page = selectors.call_page(filters=by_cost, after=newest.next_cursor, size=3)
    assert page.is_first and page.calls[0].cost == Decimal("0.05")


def test_the_page_shows_how_many_calls_match_and_links_each_order(staff_client, calls):
    body = staff_client.get("/requests/", {"range": "24h", "sort": "latency"}).content.decode()
    assert "<h2>7 calls</h2>" in body
    assert "<strong>Slowest</strong>" in body and "sort=cost" in body
    rows = body.split("<tbody>")[1]
    assert rows.index("900 ms") < rows.index("800 ms") < rows.index("100 ms")


def test_the_count_stops_at_a_cap_on_huge_windows(staff_client, calls, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_CAP", 5)
    assert selectors.call_count(filters=filters_parse(_query(range="24h"))) == (5, True)
    assert "5+ calls" in staff_client.get("/requests/", {"range": "24h"}).content.decode()


def test_a_text_search_is_not_counted_again(staff_client, calls):
    body = staff_client.get("/requests/", {"range": "24h", "q": "gpt"}).content.decode()
    assert "Matching calls" in body and ">7 calls<" not in body


def test_a_bad_sort_falls_back_to_newest(staff_client, calls):
    response = staff_client.get("/requests/", {"sort": "drop table"})
    assert (
        response.status_code == 200 and "<strong>Newest first</strong>" in response.content.decode()
    )
