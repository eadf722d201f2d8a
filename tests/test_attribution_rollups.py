"""Session summaries and per-user and per-tag days: exact sums, never double counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum

from calls.models import LLMCall
from costs.models import SessionSummary, TagDailyRollup, UserDailyRollup
from costs.rollups import rollups_rebuild, rollups_update

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 23, 50, tzinfo=UTC)  # ten minutes before a day ends


def call(at: datetime, *, recorded: datetime | None = None, **fields) -> LLMCall:
    values = {
        "agent_name": "planner",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "total_tokens": 120,
        "cost": Decimal("0.0010000001"),
    }
    values.update(fields)
    return LLMCall.objects.create(created_at=at, recorded_at=recorded or at, **values)


def test_a_session_summary_holds_its_calls_totals_agents_user_and_tags():
    call(T0, session_id="run 1/a", end_user="cust-1", tags={"env": "prod"})
    call(
        T0 + timedelta(minutes=4),
        session_id="run 1/a",
        agent_name="writer",
        end_user="cust-2",
        status="error",
        tags={"team": "ml"},
    )
    call(T0, session_id="")  # no session: no summary
    rollups_update(now=T0 + timedelta(hours=1))

    summary = SessionSummary.objects.get()
    assert summary.session_id == "run 1/a"
    assert (summary.calls, summary.errors, summary.tokens) == (2, 1, 240)
    assert summary.cost == Decimal("0.0020000002")
    assert summary.duration_s == 240
    assert summary.agents == ["planner", "writer"]
    assert summary.end_user == "cust-2"  # the latest call's user
    assert summary.tags == ["env=prod", "team=ml"]


def test_re_runs_and_late_rows_never_double_count():
    call(T0, session_id="s", end_user="u", tags={"env": "prod"})
    rollups_update(now=T0 + timedelta(minutes=5))
    rollups_update(now=T0 + timedelta(minutes=6))
    # Started before the first run, written after it (a long stream).
    call(
        T0 + timedelta(seconds=30),
        recorded=T0 + timedelta(minutes=7),
        session_id="s",
        end_user="u",
        tags={"env": "prod"},
        cost=Decimal("0.5"),
    )
    rollups_update(now=T0 + timedelta(minutes=20))
    rollups_update(now=T0 + timedelta(minutes=30))
    rollups_rebuild(start=T0 - timedelta(days=1), end=T0 + timedelta(days=1))

    expected = Decimal("0.5010000001")
    assert SessionSummary.objects.get().cost == expected
    assert SessionSummary.objects.get().calls == 2
    user = UserDailyRollup.objects.get()
    assert (user.calls, user.cost, user.last_seen) == (2, expected, T0 + timedelta(seconds=30))
    assert TagDailyRollup.objects.get().cost == expected


def test_users_and_tags_are_counted_per_utc_day_and_dimension():
    call(T0, end_user="cust-1", tags={"env": "prod", "team": "ml"})
    call(T0 + timedelta(minutes=20), end_user="cust-1", model="gpt-4o", tags={"env": "prod"})
    call(T0 + timedelta(minutes=21), end_user="cust-2", status="error")
    call(T0 + timedelta(minutes=22))  # neither a user nor tags
    rollups_update(now=T0 + timedelta(hours=1))

    day1, day2 = datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)
    cust1 = UserDailyRollup.objects.filter(end_user="cust-1")
    assert sorted(cust1.values_list("bucket_start", "model", "calls")) == [
        (day1, "gpt-4o-mini", 1),
        (day2, "gpt-4o", 1),
    ]
    assert UserDailyRollup.objects.get(end_user="cust-2").errors == 1
    assert UserDailyRollup.objects.aggregate(n=Sum("calls"))["n"] == 3
    prod = TagDailyRollup.objects.filter(tag="env=prod")
    assert prod.aggregate(n=Sum("calls"))["n"] == 2
    assert prod.first().tag_name == "env"
    assert TagDailyRollup.objects.get(tag="team=ml").bucket_start == day1


def test_a_session_over_two_runs_keeps_one_summary_with_both_halves():
    call(T0, session_id="s")
    rollups_update(now=T0 + timedelta(minutes=5))
    call(T0 + timedelta(hours=2), session_id="s", recorded=T0 + timedelta(hours=2))
    rollups_update(now=T0 + timedelta(hours=3))
    summary = SessionSummary.objects.get()
    assert (summary.calls, summary.first_at, summary.last_at) == (
        2,
        T0,
        T0 + timedelta(hours=2),
    )


def test_rows_for_refused_floods_count_their_occurrences():
    call(T0, end_user="u", session_id="s", status="rate_limited", occurrences=7, cost=0)
    rollups_update(now=T0 + timedelta(minutes=5))
    assert SessionSummary.objects.get().errors == 7
    assert UserDailyRollup.objects.get().calls == 7
