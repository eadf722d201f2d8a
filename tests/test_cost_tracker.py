"""The seed's CostTracker API and the cost recommendations behind it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from costs.models import Budget
from costs.pricing import call_cost, price_for
from costs.rollups import rollups_update
from costs.tracker import BudgetAlert, CostPeriod, CostTracker
from llm_gateway.models import LLMCall

pytestmark = pytest.mark.django_db


def calls(n: int, *, model: str, agent: str = "CTO Agent", prompt=500, completion=80, **extra):
    now = timezone.now() - timedelta(hours=1)
    price = price_for(model)
    cost = call_cost(price, prompt_tokens=prompt, completion_tokens=completion)
    LLMCall.objects.bulk_create(
        LLMCall(
            created_at=now,
            recorded_at=now,
            agent_name=agent,
            model=model,
            provider="openai",
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=prompt + completion,
            cost=cost,
            **extra,
        )
        for _ in range(n)
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
