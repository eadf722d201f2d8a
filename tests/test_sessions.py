"""The sessions pages: sessions of a window, and one session's steps as a tree."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.utils import timezone

from calls.models import LLMCall
from costs.rollups import COMMIT_LAG, rollups_update
from llm_gateway.session_selectors import call_tree

pytestmark = pytest.mark.django_db


def _call(session: str, minutes_ago: float, **fields) -> LLMCall:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    values = {"agent_name": "planner", "model": "gpt-4o-mini", "created_at": at, **fields}
    return LLMCall.objects.create(session_id=session, **values)


def _summaries_refresh() -> None:
    """The list reads the summaries the rollup job keeps (costs.attribution_rollups)."""
    rollups_update(now=timezone.now() + COMMIT_LAG)


def test_the_list_shows_each_session_once_with_its_totals(staff_client):
    _call("run-a", 10, cost=Decimal("0.01"), total_tokens=100)
    _call("run-a", 5, cost=Decimal("0.02"), total_tokens=50, status="error")
    _call("run-b", 1, agent_name="writer")
    _call("", 2)  # no session: not listed
    _summaries_refresh()
    page = staff_client.get("/sessions/?range=1h").content.decode()
    assert page.index("run-b") < page.index("run-a")  # the most recent first
    assert "$0.03000" in page and ">150<" in page
    assert page.count('href="/sessions/run-') == 2


def test_the_list_filters_by_agent_and_user(staff_client):
    _call("run-a", 1, agent_name="writer", end_user="cust-1")
    _call("run-b", 1, agent_name="planner", end_user="cust-2")
    _summaries_refresh()
    by_agent = staff_client.get("/sessions/?range=1h&agent=writer").content.decode()
    by_user = staff_client.get("/sessions/?range=1h&user=cust-2").content.decode()
    assert "run-a" in by_agent and "run-b" not in by_agent
    assert "run-b" in by_user and "run-a" not in by_user


def test_a_session_page_nests_each_step_under_its_parent_call(staff_client):
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    plan = _call("run/1?x", 3, step="plan", trace_id=trace, span_id="a" * 16)
    _call("run/1?x", 2, step="search", trace_id=trace, span_id="b" * 16, parent_id="a" * 16)
    _call("run/1?x", 1, step="answer", trace_id=trace, span_id="c" * 16, parent_id="f" * 16)
    response = staff_client.get(f"/sessions/{quote('run/1?x', safe='')}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert page.index(">plan<") < page.index("└ search") < page.index(">answer<")
    assert f"/requests/{plan.id}/" in page


def test_an_unknown_session_is_a_404(staff_client):
    assert staff_client.get("/sessions/nope/").status_code == 404


def test_a_loop_of_parent_ids_cannot_hang_the_tree():
    a = LLMCall(span_id="a" * 16, parent_id="b" * 16)
    b = LLMCall(span_id="b" * 16, parent_id="a" * 16)
    steps = call_tree([a, b])
    assert sorted(id(s.call) for s in steps) == sorted([id(a), id(b)])
