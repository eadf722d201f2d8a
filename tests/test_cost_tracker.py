"""The seed's CostTracker API and the cost recommendations behind it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from calls.models import LLMCall
from costs.models import Budget
from costs.rollups import rollups_update
from costs.tracker import BudgetAlert, CostPeriod, CostTracker
from tests.factories import LLMCallFactory, ValidationResultFactory

pytestmark = pytest.mark.django_db


def calls(n: int, *, model: str, agent: str = "CTO Agent", prompt=500, completion=80, **extra):
    now = timezone.now() - timedelta(hours=1)
    LLMCallFactory.create_batch(
        n,
        billed=True,
        created_at=now,
        recorded_at=now,
        agent_name=agent,
        model=model,
        provider="openai",
        prompt_tokens=prompt,
        completion_tokens=completion,
        **extra,
    )


def test_add_budget_alert_creates_one_budget_per_name():
    tracker = CostTracker()
    alert = BudgetAlert(
        name="Daily", threshold_percentage=0.8, period=CostPeriod.DAILY, budget_amount=10.0
    )
    tracker.add_budget_alert(alert)
    alert.budget_amount = 20.0
    budget = tracker.add_budget_alert(alert)
    assert Budget.objects.count() == 1
    assert budget.amount == Decimal("20")
    assert budget.thresholds == [0.8, 1.0]
    assert budget.action == "alert"


def test_cost_summary_includes_the_call_just_made(prices):
    LLMCall.objects.create(agent_name="A", model="gpt-4o", cost=Decimal("0.25"), total_tokens=9)
    summary = CostTracker().get_cost_summary(CostPeriod.DAILY)
    assert summary.total_cost == Decimal("0.25")
    assert summary.total_requests == 1
    assert summary.cost_by_model == {"gpt-4o": Decimal("0.25")}
    assert isinstance(summary.total_cost, Decimal)


def test_cost_summary_adds_rolled_up_hours_and_the_raw_tail_once(prices):
    earlier = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    if earlier.date() != timezone.now().date():
        pytest.skip("too close to midnight UTC for a same-day split")
    LLMCall.objects.create(created_at=earlier, recorded_at=earlier, model="m", cost=Decimal(1))
    rollups_update()
    LLMCall.objects.create(model="m", cost=Decimal(2))
    assert CostTracker().get_cost_summary(CostPeriod.DAILY).total_cost == Decimal(3)


def test_short_answers_on_a_large_model_suggest_the_small_one_with_a_priced_saving(prices):
    calls(40, model="gpt-4o", completion=50)
    rollups_update()
    advice = CostTracker().get_cost_optimization_recommendations()
    cheaper = [a for a in advice if a["type"] == "cheaper_model"]
    assert cheaper[0]["model"] == "gpt-4o"
    assert "gpt-4o-mini" in cheaper[0]["title"]
    assert Decimal(cheaper[0]["estimated_monthly_savings"]) > 0


def test_long_answers_and_small_models_get_no_downgrade_advice(prices):
    calls(40, model="gpt-4o", completion=2000)
    calls(40, model="gpt-4o-mini", agent="Bot", completion=50)
    rollups_update()
    kinds = {a["type"] for a in CostTracker().get_cost_optimization_recommendations()}
    assert "cheaper_model" not in kinds


def test_long_uncached_prompts_suggest_prompt_caching(prices):
    calls(40, model="gpt-4.1", prompt=6000, completion=900)
    rollups_update()
    advice = CostTracker().get_cost_optimization_recommendations()
    assert [a["type"] for a in advice if a["type"] != "what_if"] == ["prompt_caching"]


def test_unpriced_models_are_flagged(prices):
    calls(3, model="brand-new-model", priced=False)
    rollups_update()
    advice = CostTracker().get_cost_optimization_recommendations()
    assert advice[0]["title"] == "Add a price for brand-new-model"


# --- the contract -----------------------------------------------------------------------


def test_the_seed_example_creates_an_alert_only_daily_budget():
    budget = CostTracker().add_budget_alert(
        BudgetAlert(
            name="Daily", threshold_percentage=0.8, period=CostPeriod.DAILY, budget_amount=10.0
        )
    )
    assert (budget.action, budget.period, budget.scope, budget.amount) == (
        "alert",
        "daily",
        "global",
        Decimal("10"),
    )


def test_cost_summary_has_the_contract_fields(prices):
    LLMCall.objects.create(
        agent_name="A", model="gpt-4o", provider="openai", cost=Decimal("0.25"), total_tokens=9
    )
    LLMCall.objects.create(
        agent_name="B", model="claude-x", provider="anthropic", cost=Decimal("1"), total_tokens=1
    )
    summary = CostTracker().get_cost_summary(CostPeriod.DAILY)
    assert summary.total_cost == Decimal("1.25")
    assert (summary.request_count, summary.total_tokens) == (2, 10)
    assert summary.by_model == {"gpt-4o": Decimal("0.25"), "claude-x": Decimal("1")}
    assert summary.by_agent == {"A": Decimal("0.25"), "B": Decimal("1")}
    assert summary.by_provider == {"openai": Decimal("0.25"), "anthropic": Decimal("1")}


# --- forecast ---------------------------------------------------------------------------


def test_the_forecast_extrapolates_the_run_rate_to_the_end_of_the_period():
    from datetime import UTC, datetime

    from costs.selectors import budget_forecast

    start, end = datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)
    halfway = start + (end - start) / 2
    assert budget_forecast(spend=Decimal("10"), start=start, end=end, now=halfway) == Decimal("20")
    assert budget_forecast(spend=Decimal("10"), start=start, end=end, now=end) == Decimal("10")
    # One call in the first minute is not projected as if it were the pace of the month.
    early = start + timedelta(minutes=1)
    assert budget_forecast(spend=Decimal("1"), start=start, end=end, now=early) == Decimal("10")


def test_a_budget_on_track_to_exceed_raises_one_in_app_alert():
    from datetime import UTC, datetime

    from costs.alerts import forecast_alert_raise
    from costs.budgets import budget_create
    from costs.models import InAppAlert
    from costs.selectors import budget_status

    noon = datetime(2026, 5, 20, 12, tzinfo=UTC)
    budget = budget_create(name="Day", amount="10", period="daily")
    LLMCall.objects.create(created_at=noon, recorded_at=noon, cost=Decimal("6"))
    status = budget_status(budget=budget, at=noon)
    assert status.forecast == Decimal("12") and status.on_track_to_exceed
    alert = forecast_alert_raise(status=status, at=noon)
    assert alert is not None and "on track to exceed" in alert.title
    assert forecast_alert_raise(status=status, at=noon) is None
    assert InAppAlert.objects.count() == 1


def test_the_tracker_forecasts_all_traffic(prices):
    LLMCall.objects.create(model="gpt-4o", cost=Decimal("2"))
    forecast = CostTracker().forecast(CostPeriod.MONTHLY)
    assert forecast.spent == Decimal("2")
    assert forecast.projected >= Decimal("2")


# --- recommendations from real traffic ------------------------------------------------------


def validated(agent: str, model: str, n: int, valid: int) -> None:

    calls(n, model=model, agent=agent, completion=50)
    rows = LLMCall.objects.filter(agent_name=agent, model=model, validation__isnull=True)
    for index, call in enumerate(rows):
        ValidationResultFactory(call=call, is_valid=index < valid)


def test_the_cheaper_model_keeps_the_agents_validation_pass_rate(prices):
    validated("Writer", "gpt-4o", 40, valid=32)  # 80 %
    validated("Writer", "gpt-4o-mini", 20, valid=10)  # cheaper, but 50 %
    validated("Writer", "gpt-4.1-mini", 20, valid=18)  # 90 %
    rollups_update()
    advice = CostTracker().get_cost_optimization_recommendations()
    (cheaper,) = [a for a in advice if a["type"] == "cheaper_model" and a["model"] == "gpt-4o"]
    assert "gpt-4.1-mini" in cheaper["title"]
    assert Decimal(cheaper["estimated_monthly_savings"]) > 0


def test_repeated_identical_prompts_suggest_a_cache_with_their_cost(prices):
    calls(12, model="gpt-4o-mini", agent="FAQ", request_body={"messages": [{"content": "hours?"}]})
    advice = CostTracker().get_cost_optimization_recommendations()
    (repeat,) = [a for a in advice if a["type"] == "repeated_prompts"]
    one = LLMCall.objects.filter(agent_name="FAQ").first().cost
    scale = Decimal(30) / Decimal(7)
    assert repeat["agent"] == "FAQ"
    expected = (one * 11 * scale).quantize(Decimal("0.01"))
    assert Decimal(repeat["estimated_monthly_savings"]) == expected


def test_answers_cut_at_max_tokens_are_reported_as_waste(prices):
    calls(6, model="gpt-4o", agent="Summariser", completion=4000, finish_reason="length")
    advice = CostTracker().get_cost_optimization_recommendations()
    (cut,) = [a for a in advice if a["type"] == "truncation"]
    assert cut["agent"] == "Summariser" and Decimal(cut["estimated_monthly_savings"]) > 0


def test_billed_failures_are_reported_as_waste(prices):
    calls(30, model="gpt-4o", agent="Flaky", completion=2000)
    calls(10, model="gpt-4o", agent="Flaky", completion=2000, status="client_disconnected")
    rollups_update()
    advice = CostTracker().get_cost_optimization_recommendations()
    (errors,) = [a for a in advice if a["type"] == "errors"]
    assert errors["agent"] == "Flaky" and Decimal(errors["estimated_monthly_savings"]) > 0


def test_the_what_if_table_reprices_real_usage_under_every_priced_model(prices):
    calls(10, model="gpt-4o", prompt=1000, completion=100)
    rollups_update()
    table = {row["model"]: row for row in CostTracker().get_what_if_table()}
    actual = Decimal(table["gpt-4o"]["actual_cost"])
    assert Decimal(table["gpt-4o"]["difference"]) == 0
    assert Decimal(table["gpt-4o-mini"]["cost"]) < actual
    assert len(table) > 10
