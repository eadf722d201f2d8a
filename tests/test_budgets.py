"""Budgets: calendar periods, spend, threshold alerts once per period, blocking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.utils import timezone

from costs.budgets import budget_create, budget_enforce, budgets_evaluate
from costs.models import BudgetAlertEvent
from costs.periods import period_bounds
from costs.rollups import rollups_update
from costs.selectors import budget_spend
from llm_gateway.interface import LLMBudgetExceededError, LLMRequest
from llm_gateway.manager import LLMManager
from llm_gateway.models import GatewayKey, LLMCall
from llm_gateway.providers.openai_provider import OpenAIProvider

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


def spend(amount: str, *, at: datetime | None = None, **fields) -> LLMCall:
    when = at or timezone.now()
    values = {"agent_name": "CTO Agent", "model": "gpt-4o-mini", "cost": Decimal(amount)}
    values.update(fields)
    return LLMCall.objects.create(created_at=when, recorded_at=when, **values)


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


def test_thresholds_are_normalised_to_sorted_decimal_strings():
    budget = budget_create(name="B", amount="10", thresholds=[1, 0.8, "0.80", 0.5])
    assert budget.thresholds == ["0.5", "0.8", "1"]


@pytest.mark.parametrize(
    "fields",
    [
        {"scope": "agent"},
        {"scope": "key"},
        {"thresholds": [0]},
        {"channels": [{"type": "pager"}]},
        {"channels": [{"type": "webhook", "url": "ftp://x"}]},
        {"amount": "0"},
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


def test_a_key_budget_counts_the_keys_calls():
    key = GatewayKey.objects.create(name="k", agent_name="A", prefix="gk_1", key_hash="x")
    budget = budget_create(name="Key", amount="5", scope="key", gateway_key_id=key.id)
    spend("2", gateway_key=key)
    spend("3")
    assert budget_spend(budget=budget).spend == Decimal("2")


# --- alerts -----------------------------------------------------------------------------


def test_each_threshold_fires_once_per_period():
    budget = budget_create(name="B", amount="10", period="daily", thresholds=[0.5, 0.8, 1])
    spend("6")
    assert [e.threshold for e in budgets_evaluate()] == [Decimal("0.5")]
    assert budgets_evaluate() == []
    spend("5")
    assert [e.threshold for e in budgets_evaluate()] == [Decimal("0.8"), Decimal("1")]
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


# --- blocking ---------------------------------------------------------------------------


def manager_for(fake) -> LLMManager:
    provider = OpenAIProvider(api_key="sk-test", model="gpt-4o-mini", base_url=fake.base_url)
    return LLMManager([provider], fallback_models=[], mock_fallback=False)


def test_an_exhausted_blocking_budget_refuses_the_call_and_records_it(fake_openai, prices):
    budget_create(
        name="CTO cap",
        amount="1",
        period="daily",
        scope="agent",
        scope_value="CTO Agent",
        action="block",
    )
    spend("1.5")
    with pytest.raises(LLMBudgetExceededError) as info:
        async_to_sync(manager_for(fake_openai).generate_response)(
            LLMRequest(prompt="hi"), agent_name="CTO Agent"
        )
    assert info.value.code == "budget_exceeded"
    assert info.value.http_status == 429
    assert fake_openai.chat_calls == []
    blocked = LLMCall.objects.get(status="blocked")
    assert (blocked.agent_name, blocked.error_type) == ("CTO Agent", "LLMBudgetExceededError")


def test_a_blocked_stream_never_reaches_the_provider(fake_openai, prices):
    budget_create(name="Cap", amount="1", period="daily", action="block")
    spend("1")

    async def consume():
        async for _ in manager_for(fake_openai).stream_response(LLMRequest(prompt="hi")):
            pass

    with pytest.raises(LLMBudgetExceededError):
        async_to_sync(consume)()
    assert fake_openai.chat_calls == []
    assert LLMCall.objects.filter(status="blocked").count() == 1


def test_other_scopes_and_alert_only_budgets_do_not_block(fake_openai, prices):
    budget_create(
        name="Bot cap", amount="1", scope="agent", scope_value="Support Bot", action="block"
    )
    budget_create(name="Watch", amount="1", action="alert")
    spend("5", agent_name="Support Bot")
    response = async_to_sync(manager_for(fake_openai).generate_response)(
        LLMRequest(prompt="hi"), agent_name="CTO Agent"
    )
    assert response.content
    budget_enforce(agent_name="CTO Agent", gateway_key_id=None, model="gpt-4o-mini")


def test_a_model_budget_blocks_only_that_model():
    budget_create(name="4o", amount="1", scope="model", scope_value="gpt-4o", action="block")
    spend("2", model="gpt-4o")
    with pytest.raises(LLMBudgetExceededError):
        budget_enforce(agent_name="A", gateway_key_id=None, model="gpt-4o")
    budget_enforce(agent_name="A", gateway_key_id=None, model="gpt-4o-mini")


def test_raising_the_amount_unblocks_at_once():
    budget = budget_create(name="Cap", amount="1", action="block")
    spend("2")
    with pytest.raises(LLMBudgetExceededError):
        budget_enforce(agent_name="A", gateway_key_id=None, model="m")
    budget.amount = Decimal("5")
    budget.save()
    budget_enforce(agent_name="A", gateway_key_id=None, model="m")


def test_disabling_a_blocking_budget_unblocks_at_once():
    budget = budget_create(name="Cap", amount="1", action="block")
    spend("2")
    with pytest.raises(LLMBudgetExceededError):
        budget_enforce(agent_name="A", gateway_key_id=None, model="m")
    budget.enabled = False
    budget.save()
    budget_enforce(agent_name="A", gateway_key_id=None, model="m")
