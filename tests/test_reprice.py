"""manage.py reprice: past costs recomputed from the price ledger, audited;
unpriced models raise an in-app alert instead of costing $0 silently."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from calls.models import LLMCall
from costs.alerts import unpriced_alerts_raise
from costs.budgets import budget_create, budgets_evaluate
from costs.models import BudgetCounter, Granularity, InAppAlert, ModelPrice, RepriceAudit
from costs.pricing import call_cost, price_for
from costs.rollups import rollups_update
from costs.selectors import in_app_alerts_active
from costs.usage import usage_totals

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)


def call(at: datetime, model: str = "gpt-4o-mini", **fields) -> LLMCall:
    values = {
        "agent_name": "A",
        "model": model,
        "provider": "openai",
        "provider_kind": "openai",
        "prompt_tokens": 1_000_000,
        "completion_tokens": 100_000,
        "cost": Decimal(0),
        "priced": False,
    }
    values.update(fields)
    return LLMCall.objects.create(created_at=at, recorded_at=at, **values)


def price(model: str, at: datetime, input_per_m: str, output_per_m: str) -> None:
    ModelPrice.objects.create(
        provider="openai",
        model=model,
        input_per_m=Decimal(input_per_m),
        output_per_m=Decimal(output_per_m),
        effective_from=at,
    )


def test_reprice_charges_each_call_at_the_price_in_force_at_its_time_and_audits_it():
    price("house-model", T0 - timedelta(days=30), "1", "2")
    price("house-model", T0 + timedelta(hours=1), "3", "4")
    early = call(T0 + timedelta(minutes=5), model="house-model")
    late = call(T0 + timedelta(hours=2), model="house-model")
    untouched = call(T0 - timedelta(days=3), model="house-model")
    rollups_update(now=T0 + timedelta(hours=3))
    out = io.StringIO()
    call_command(
        "reprice", "--since", "2026-03-02", "--model", "house-model", "--by", "ops", stdout=out
    )

    early.refresh_from_db()
    late.refresh_from_db()
    untouched.refresh_from_db()
    assert (early.cost, early.input_price_per_m, early.priced) == (
        Decimal("1.2"),  # 1M input at $1 + 100k output at $2
        Decimal("1"),
        True,
    )
    assert (late.cost, late.output_price_per_m) == (Decimal("3.4"), Decimal("4"))
    assert untouched.cost == 0  # before --since
    audit = RepriceAudit.objects.get()
    assert (audit.calls, audit.old_total, audit.new_total, audit.who) == (
        2,
        Decimal(0),
        Decimal("4.6"),
        "ops",
    )
    assert audit.model == "house-model"
    assert "Repriced 2 calls" in out.getvalue()
    # Rollups were rebuilt: the dashboard's totals moved with the calls.
    totals = usage_totals(start=T0, end=T0 + timedelta(hours=3))
    assert totals.cost == Decimal("4.6")


def test_reprice_filters_by_provider_and_leaves_the_mock_alone(prices):
    mini = call(T0, cost=Decimal("999"))
    azure = call(T0, provider="azure-east", provider_kind="azure_openai", cost=Decimal("5"))
    mock = call(T0, model="mock-model", provider="mock", provider_kind="mock")
    call_command("reprice", "--since", "2026-03-01", "--provider", "openai", stdout=io.StringIO())
    mini.refresh_from_db()
    azure.refresh_from_db()
    mock.refresh_from_db()
    expected = call_cost(
        price_for("gpt-4o-mini", at=T0), prompt_tokens=1_000_000, completion_tokens=100_000
    )
    assert mini.cost == expected and mini.priced
    assert azure.cost == Decimal("5")
    assert mock.cost == 0
    assert RepriceAudit.objects.get().who  # the OS user when --by is not given


def test_reprice_reconciles_the_budget_counters():
    price("house-model", T0 - timedelta(days=1), "1", "2")
    budget_create(name="All", amount="100", period="monthly")
    now = timezone.now()
    call(now, model="house-model")
    budgets_evaluate()
    assert BudgetCounter.objects.get().spent == 0
    call_command("reprice", "--since", now.date().isoformat(), stdout=io.StringIO())
    assert BudgetCounter.objects.get().spent == Decimal("1.2")


def test_a_bad_since_is_a_clear_error():
    with pytest.raises(CommandError, match="not a date"):
        call_command("reprice", "--since", "last tuesday")


def test_an_unpriced_model_raises_one_in_app_alert_per_day():
    now = timezone.now()
    call(now, model="brand-new-model")
    call(now, model="brand-new-model")
    call(now, model="gpt-4o-mini", priced=True)
    assert [a.title for a in unpriced_alerts_raise(at=now)] == [
        "No price for model brand-new-model"
    ]
    assert unpriced_alerts_raise(at=now) == []  # once per model per day
    budgets_evaluate()
    assert InAppAlert.objects.count() == 1
    assert "brand-new-model" in in_app_alerts_active()[0].title
    assert unpriced_alerts_raise(at=now + timedelta(days=1)) == []  # no calls that day


def test_rollups_count_unpriced_calls(settings):
    call(T0, model="brand-new-model")
    rollups_update(now=T0 + timedelta(hours=1))
    from costs.models import UsageRollup

    assert UsageRollup.objects.get(granularity=Granularity.HOUR).unpriced_calls == 1
