"""Budgets: calendar periods, validation, spend, threshold alerts once per period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from calls.models import LLMCall
from costs.budgets import budget_create, budgets_evaluate
from costs.models import BudgetAlertEvent
from costs.periods import period_bounds
from costs.rollups import rollups_update
from costs.selectors import budget_spend
from tests.factories import GatewayKeyFactory, LLMCallFactory

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


def spend(amount: str, *, at: datetime | None = None, **fields) -> LLMCall:
    when = at or timezone.now()
    values = {"agent_name": "CTO Agent", "model": "gpt-4o-mini", "cost": Decimal(amount)}
    values.update(fields)
    return LLMCallFactory(created_at=when, recorded_at=when, **values)


# --- periods ------------------------------------------------------------------------


def test_a_daily_period_is_the_local_calendar_day_even_across_dst():
    # 2026-03-29: Berlin moves from +01:00 to +02:00, so the day lasts 23 hours.
    start, end = period_bounds("daily", at=datetime(2026, 3, 29, 12, tzinfo=UTC), tz=BERLIN)
    assert start == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert end == datetime(2026, 3, 29, 22, tzinfo=UTC)


def test_weekly_periods_start_on_monday_and_monthly_on_the_first():
    at = datetime(2026, 2, 19, 15, tzinfo=UTC)  # a Thursday
    assert period_bounds("weekly", at=at, tz=ZoneInfo("UTC")) == (
        datetime(2026, 2, 16, tzinfo=UTC),
        datetime(2026, 2, 23, tzinfo=UTC),
    )
    assert period_bounds("monthly", at=at, tz=ZoneInfo("UTC")) == (
        datetime(2026, 2, 1, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
    )


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError):
        period_bounds("daily", at=datetime(2026, 1, 1))


# --- create -----------------------------------------------------------------------------


def test_thresholds_are_normalised_to_sorted_json_numbers():
    budget = budget_create(name="B", amount="10", thresholds=[1, 0.8, "0.80", 0.5])
    assert budget.thresholds == [0.5, 0.8, 1.0]
    budget.refresh_from_db()
    assert budget.thresholds == [0.5, 0.8, 1.0]


def test_the_default_thresholds_are_half_four_fifths_and_all():
    assert budget_create(name="B", amount="10").thresholds == [0.5, 0.8, 1.0]


def test_a_threshold_of_ten_times_the_amount_is_allowed():
    assert budget_create(name="B", amount="10", thresholds=[10]).thresholds == [10.0]


@pytest.mark.parametrize(
    "fields",
    [
        {"scope": "agent"},
        {"scope": "key"},
        {"scope": "model"},
        {"thresholds": [0]},
        {"thresholds": [10.5]},
        {"thresholds": ["lots"]},
        {"emails": "ops@example.com, not-an-address"},
        {"webhook_url": "ftp://hooks.example.com/x"},
        {"webhook_url": "http://localhost:8000/v1/chat/completions"},
        {"action": "downgrade"},
        {"action": "alert", "downgrade_model": "gpt-4o-mini"},
        {"amount": "0"},
        {"amount": "-5"},
    ],
)
def test_an_invalid_budget_is_refused(fields):
    options = {"name": "B", "amount": "10", **fields}
    with pytest.raises(ValidationError):
        budget_create(**options)


# --- spend ------------------------------------------------------------------------------


def test_spend_counts_only_the_scope_and_the_current_period():
    now = timezone.now()
    budget = budget_create(
        name="CTO", amount="10", period="daily", scope="agent", scope_value="CTO Agent"
    )
    spend("1.25", at=now)
    spend("5", at=now, agent_name="Support Bot")
    spend("7", at=now - timedelta(days=2))
    assert budget_spend(budget=budget).spend == Decimal("1.25")


def test_spend_from_rollups_and_the_raw_tail_is_counted_once():
    now = datetime(2026, 5, 20, 15, 30, tzinfo=UTC)
    budget = budget_create(name="All", amount="100", period="daily")
    spend("1", at=datetime(2026, 5, 20, 9, 10, tzinfo=UTC))
    spend("2", at=datetime(2026, 5, 20, 14, 50, tzinfo=UTC))
    rollups_update(now=now)
    spend("4", at=datetime(2026, 5, 20, 15, 29, tzinfo=UTC))  # not rolled up yet
    # The 09:10 call is read from rollups only: deleting it from the log proves it.
    LLMCall.objects.filter(cost=Decimal("1")).delete()
    assert budget_spend(budget=budget, at=now).spend == Decimal("7")


def test_the_current_hour_is_read_from_minute_rollups_up_to_the_late_margin():
    now = datetime(2026, 5, 20, 15, 40, tzinfo=UTC)
    budget = budget_create(name="All", amount="100", period="daily")
    spend("3", at=datetime(2026, 5, 20, 15, 5, tzinfo=UTC))
    spend("5", at=datetime(2026, 5, 20, 15, 35, tzinfo=UTC))
    rollups_update(now=now)
    # 15:05 is more than LATE_MARGIN behind the cursor: deleting it from the log
    # proves it comes from its minute rollup; 15:35 is still read raw, so a
    # repriced (or late) row there counts as the log says.
    LLMCall.objects.filter(cost=Decimal("3")).delete()
    LLMCall.objects.filter(cost=Decimal("5")).update(cost=Decimal("6"))
    assert budget_spend(budget=budget, at=now).spend == Decimal("9")


@pytest.mark.parametrize("minute", [0, 7, 14, 15, 16, 44, 59])
def test_spend_from_rollups_and_the_live_tail_equals_the_raw_sum(minute):
    """Whatever the moment, hour rows + minute rows + raw tail partition the
    period by created_at: each call is counted exactly once, to the last digit."""
    from django.db import connection

    from costs.pricing import COST_QUANTUM

    now = datetime(2026, 5, 20, 15, minute, 30, tzinfo=UTC)
    budgets = [
        budget_create(name="All", amount="100", period="daily"),
        budget_create(name="CTO", amount="100", scope="agent", scope_value="CTO Agent"),
        budget_create(
            name="4o", amount="100", period="weekly", scope="model", scope_value="gpt-4o"
        ),
    ]
    moments = [now - timedelta(minutes=m) for m in (0.2, 3, 9, 14, 16, 31, 58, 61, 75, 300, 900)]
    for i, moment in enumerate(moments):
        agent = "CTO Agent" if i % 2 else "Support Bot"
        model = "gpt-4o" if i % 3 else "gpt-4o-mini"
        spend(f"0.{i + 1:02d}00000007", at=moment, agent_name=agent, model=model)
    rollups_update(now=now - timedelta(seconds=20))
    spend("0.5000000001", at=now - timedelta(seconds=5))  # after the cursor
    for budget in budgets:
        status = budget_spend(budget=budget, at=now)
        calls = LLMCall.objects.filter(created_at__gte=status.period_start, created_at__lt=now)
        scope = {"agent": "agent_name", "model": "model"}.get(budget.scope)
        if scope:
            calls = calls.filter(**{scope: budget.scope_value})
        expected = sum((c.cost for c in calls), Decimal(0))
        # SQLite sums decimals as floats; PostgreSQL must be exact.
        got = (
            status.spend
            if connection.vendor == "postgresql"
            else status.spend.quantize(COST_QUANTUM)
        )
        assert got == expected, budget.name


def test_a_key_budget_counts_the_calls_carrying_its_prefix():
    budget = budget_create(name="Key", amount="5", scope="key", scope_value="gw_1a2b3c4d")
    spend("2", key_prefix="gw_1a2b3c4d")
    spend("3", key_prefix="gw_other")
    assert budget_spend(budget=budget).spend == Decimal("2")


def test_the_first_versions_key_and_channel_arguments_are_still_accepted():

    key = GatewayKeyFactory(agent_name="A", prefix="gw_legacy1")
    budget = budget_create(
        name="Key",
        amount="5",
        scope="key",
        gateway_key_id=key.id,
        channels=[
            {"type": "email", "to": ["a@example.com", "b@example.com"]},
            {"type": "webhook", "url": "https://hooks.example.com/T0/x"},
        ],
    )
    assert budget.scope_value == "gw_legacy1"
    assert budget.email_list == ["a@example.com", "b@example.com"]
    assert budget.webhook_url == "https://hooks.example.com/T0/x"
    assert budget.channels == [
        {"type": "email", "to": ["a@example.com", "b@example.com"]},
        {"type": "webhook"},
    ]


# --- alerts -----------------------------------------------------------------------------


def test_each_threshold_fires_once_per_period():
    budget = budget_create(name="B", amount="10", period="daily", thresholds=[0.5, 0.8, 1])
    spend("6")
    assert [e.threshold for e in budgets_evaluate()] == [Decimal("0.5")]
    assert budgets_evaluate() == []
    spend("5")
    events = budgets_evaluate()
    assert [e.threshold for e in events] == [Decimal("0.8"), Decimal("1")]
    assert events[0].spent == Decimal("11")
    assert BudgetAlertEvent.objects.filter(budget=budget).count() == 3


def test_thresholds_fire_again_in_the_next_period():
    budget_create(name="B", amount="10", period="daily", thresholds=[0.5])
    today = timezone.now()
    spend("6", at=today - timedelta(days=1))
    budgets_evaluate(at=today - timedelta(days=1))
    spend("6", at=today)
    assert len(budgets_evaluate(at=today)) == 1
    assert BudgetAlertEvent.objects.count() == 2


def test_a_new_call_triggers_budget_evaluation_after_commit(django_capture_on_commit_callbacks):
    budget_create(name="B", amount="1", period="daily", thresholds=[1])
    with django_capture_on_commit_callbacks(execute=True):
        spend("2")
    assert BudgetAlertEvent.objects.count() == 1


def test_an_event_records_which_channels_it_must_reach():
    budget_create(name="B", amount="1", period="daily", thresholds=[1], emails="ops@example.com")
    spend("2")
    (event,) = budgets_evaluate()
    assert (event.email_status, event.webhook_status, event.in_app_status) == (
        "pending",
        "none",
        "pending",
    )


# --- period boundaries ----------------------------------------------------------


UTC_ZONE = ZoneInfo("UTC")


@pytest.mark.parametrize(
    ("period", "at", "start", "end"),
    [
        # The last microsecond of a day is still that day; midnight is the next.
        (
            "daily",
            datetime(2026, 5, 20, 23, 59, 59, 999999, tzinfo=UTC),
            (2026, 5, 20),
            (2026, 5, 21),
        ),
        ("daily", datetime(2026, 5, 21, 0, 0, tzinfo=UTC), (2026, 5, 21), (2026, 5, 22)),
        # Sunday night belongs to the week that started on Monday; Monday 00:00 starts one.
        ("weekly", datetime(2026, 5, 24, 23, 59, tzinfo=UTC), (2026, 5, 18), (2026, 5, 25)),
        ("weekly", datetime(2026, 5, 25, 0, 0, tzinfo=UTC), (2026, 5, 25), (2026, 6, 1)),
        # End of month, including December into January.
        ("monthly", datetime(2026, 4, 30, 23, 59, tzinfo=UTC), (2026, 4, 1), (2026, 5, 1)),
        ("monthly", datetime(2026, 12, 31, 23, 59, tzinfo=UTC), (2026, 12, 1), (2027, 1, 1)),
        # Leap day: a day of its own, in a 29-day February.
        ("daily", datetime(2028, 2, 29, 12, tzinfo=UTC), (2028, 2, 29), (2028, 3, 1)),
        ("daily", datetime(2028, 3, 1, 0, 0, tzinfo=UTC), (2028, 3, 1), (2028, 3, 2)),
        ("monthly", datetime(2028, 2, 29, 23, 59, tzinfo=UTC), (2028, 2, 1), (2028, 3, 1)),
    ],
)
def test_period_boundaries_in_utc(period, at, start, end):
    assert period_bounds(period, at=at, tz=UTC_ZONE) == (
        datetime(*start, tzinfo=UTC),
        datetime(*end, tzinfo=UTC),
    )


def test_a_non_utc_budget_timezone_moves_the_boundaries(settings):
    settings.BUDGET_TIMEZONE = "America/New_York"  # UTC-4 in May
    # 02:00 UTC on the 21st is still the 20th in New York.
    at = datetime(2026, 5, 21, 2, 0, tzinfo=UTC)
    assert period_bounds("daily", at=at) == (
        datetime(2026, 5, 20, 4, tzinfo=UTC),
        datetime(2026, 5, 21, 4, tzinfo=UTC),
    )
    assert period_bounds("monthly", at=datetime(2026, 6, 1, 3, tzinfo=UTC))[0] == datetime(
        2026, 5, 1, 4, tzinfo=UTC
    )


def test_spend_in_a_non_utc_zone_counts_the_local_day(settings):
    settings.BUDGET_TIMEZONE = "Asia/Tokyo"  # UTC+9
    budget = budget_create(name="Tokyo", amount="10", period="daily")
    at = datetime(2026, 5, 20, 16, 0, tzinfo=UTC)  # 01:00 on the 21st in Tokyo
    spend("1", at=datetime(2026, 5, 20, 14, 59, tzinfo=UTC))  # 23:59 on the 20th: not today
    spend("2", at=datetime(2026, 5, 20, 15, 0, tzinfo=UTC))  # 00:00 on the 21st: today
    status = budget_spend(budget=budget, at=at)
    assert status.period_start == datetime(2026, 5, 20, 15, tzinfo=UTC)
    assert status.spend == Decimal("2")
