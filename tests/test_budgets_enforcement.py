"""Budget enforcement: reservations before the call, settlement when it is
recorded, block and downgrade actions, reconciliation with the call log."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from calls.models import LLMCall
from costs.budgets import budget_create, budgets_evaluate
from costs.models import BudgetCounter
from costs.reservations import budget_reserve, budget_settle, reservation_estimate
from llm_gateway.interface import LLMBudgetExceededError, LLMProviderError, LLMRequest
from llm_gateway.manager import CallContext, LLMManager
from llm_gateway.providers.openai_provider import OpenAIProvider

pytestmark = pytest.mark.django_db


def spend(amount: str, **fields) -> LLMCall:
    values = {"agent_name": "CTO Agent", "model": "gpt-4o-mini", "cost": Decimal(amount)}
    values.update(fields)
    return LLMCall.objects.create(**values)


def manager_for(fake, **options) -> LLMManager:
    provider = OpenAIProvider(api_key="sk-test", model="gpt-4o-mini", base_url=fake.base_url)
    options = {"fallback_models": [], "mock_fallback": False, **options}
    return LLMManager([provider], **options)


def ask(fake, prompt: str = "hi", **fields):
    agent = fields.pop("agent_name", "CTO Agent")
    request = LLMRequest(prompt=prompt, max_tokens=fields.pop("max_tokens", 50), **fields)
    return async_to_sync(manager_for(fake).generate_response)(request, agent_name=agent)


def counter() -> BudgetCounter:
    return BudgetCounter.objects.get()


# --- block --------------------------------------------------------------------------


def test_an_exhausted_blocking_budget_refuses_the_call_and_records_it_once(fake_openai, prices):
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
        ask(fake_openai)
    assert (info.value.code, info.value.http_status) == ("budget_exceeded", 429)
    assert fake_openai.chat_calls == []
    blocked = LLMCall.objects.get(status="blocked")
    assert (blocked.agent_name, blocked.error_type, blocked.cost) == (
        "CTO Agent",
        "LLMBudgetExceededError",
        Decimal(0),
    )
    assert counter().reserved == 0


def test_a_call_whose_reservation_would_pass_the_amount_is_refused(fake_openai, prices):
    budget_create(name="Cap", amount="1", period="daily", action="block")
    reservation = async_to_sync(reservation_estimate)(
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=50,
        model="gpt-4o-mini",
        kinds=["openai"],
    )
    spend(str(Decimal(1) - reservation / 2))  # under the amount, but not by a reservation
    with pytest.raises(LLMBudgetExceededError):
        ask(fake_openai)


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
    assert ask(fake_openai).content
    assert LLMCall.objects.filter(status="success", agent_name="CTO Agent").count() == 1


def test_a_model_budget_blocks_only_that_model():
    budget_create(name="4o", amount="1", scope="model", scope_value="gpt-4o", action="block")
    spend("2", model="gpt-4o")
    with pytest.raises(LLMBudgetExceededError):
        budget_reserve(agent_name="A", key_prefix="", model="gpt-4o", amount=Decimal("0.01"))
    budget_reserve(agent_name="A", key_prefix="", model="gpt-4o-mini", amount=Decimal("0.01"))


def test_a_key_budget_blocks_only_calls_with_that_key_prefix(fake_openai, prices):
    budget_create(name="Key", amount="1", scope="key", scope_value="gw_cafe1234", action="block")
    spend("2", key_prefix="gw_cafe1234")
    refused = CallContext(key_prefix="gw_cafe1234", source="api")
    with pytest.raises(LLMBudgetExceededError):
        async_to_sync(manager_for(fake_openai).generate_response)(
            LLMRequest(prompt="hi", max_tokens=20), context=refused
        )
    other = CallContext(key_prefix="gw_beef5678", source="api")
    async_to_sync(manager_for(fake_openai).generate_response)(
        LLMRequest(prompt="hi", max_tokens=20), context=other
    )


def test_raising_the_amount_or_disabling_the_budget_unblocks_at_once():
    budget = budget_create(name="Cap", amount="1", action="block")
    spend("2")
    with pytest.raises(LLMBudgetExceededError):
        budget_reserve(agent_name="A", key_prefix="", model="m", amount=Decimal(0))
    budget.amount = Decimal("5")
    budget.save()
    budget_reserve(agent_name="A", key_prefix="", model="m", amount=Decimal(0))
    budget.amount = Decimal("1")
    budget.save()
    with pytest.raises(LLMBudgetExceededError):
        budget_reserve(agent_name="A", key_prefix="", model="m", amount=Decimal(0))
    budget.enabled = False
    budget.save()
    budget_reserve(agent_name="A", key_prefix="", model="m", amount=Decimal(0))


# --- reserve and settle ---------------------------------------------------------------


def test_a_successful_call_settles_its_reservation_into_its_real_cost(fake_openai, prices):
    budget_create(name="All", amount="10", period="daily", action="block")
    spend("1")
    ask(fake_openai, max_tokens=200)
    call = LLMCall.objects.exclude(cost=Decimal(1)).get()
    assert call.cost > 0
    row = counter()
    assert row.reserved == 0
    assert row.spent == Decimal("1") + call.cost


def test_a_failed_call_releases_its_reservation(fake_openai, prices):
    budget_create(name="All", amount="10", period="daily", action="block")
    fake_openai.fail_always_with(500)
    with pytest.raises(LLMProviderError):
        async_to_sync(manager_for(fake_openai, max_retries=0).generate_response)(
            LLMRequest(prompt="hi", max_tokens=50)
        )
    assert LLMCall.objects.get().status == "error"
    assert (counter().reserved, counter().spent) == (0, 0)


def test_a_stream_the_client_abandons_settles_what_it_cost(fake_openai, prices):
    budget_create(name="All", amount="10", period="daily", action="block")

    async def read_one_chunk_then_leave():
        stream = manager_for(fake_openai).stream_response(
            LLMRequest(prompt="tell me a long story", max_tokens=300)
        )
        async for _ in stream:
            break
        await stream.aclose()

    async_to_sync(read_one_chunk_then_leave)()
    call = LLMCall.objects.get()
    assert call.status == "client_disconnected"
    assert (counter().reserved, counter().spent) == (0, call.cost)


def test_a_reservation_is_settled_only_once():
    budget_create(name="All", amount="10", period="daily", action="block")
    reservation = budget_reserve(agent_name="A", key_prefix="", model="m", amount=Decimal("2"))
    assert counter().reserved == Decimal("2")
    budget_settle(reservation=reservation, cost=Decimal("0.5"))
    budget_settle(reservation=reservation, cost=Decimal("0.5"))
    assert (counter().reserved, counter().spent) == (0, Decimal("0.5"))


def test_a_counter_row_gone_under_a_cached_id_is_found_again():
    """The counter's id is cached per process; a row deleted behind it (the
    budget's period data purged) lets the call through unreserved once, then
    the next reservation creates and uses a new row."""
    budget_create(name="All", amount="10", period="daily", action="block")
    first = budget_reserve(agent_name="A", key_prefix="", model="m", amount=Decimal("2"))
    BudgetCounter.objects.all().delete()
    gone = budget_reserve(agent_name="A", key_prefix="", model="m", amount=Decimal("2"))
    assert gone.counter_ids == ()
    again = budget_reserve(agent_name="A", key_prefix="", model="m", amount=Decimal("3"))
    assert again.counter_ids != first.counter_ids
    assert counter().reserved == Decimal("3")


def test_a_block_budget_refuses_what_would_pass_its_amount_and_reserves_nothing():
    budget_create(name="All", amount="10", period="daily", action="block")
    budget_reserve(agent_name="A", key_prefix="", model="m", amount=Decimal("9"))
    with pytest.raises(LLMBudgetExceededError, match="Budget 'All'"):
        budget_reserve(agent_name="A", key_prefix="", model="m", amount=Decimal("1.5"))
    assert counter().reserved == Decimal("9")
    budget_reserve(agent_name="A", key_prefix="", model="m", amount=Decimal("1"))
    assert counter().reserved == Decimal("10")  # up to the amount exactly


def test_an_alert_budget_takes_no_reservation_but_still_sees_the_spend():
    """Only block and downgrade budgets gate calls; an alert budget's spend and
    alerts come from the call log, so it costs a call no row lock."""
    from costs.selectors import budget_spend

    budget = budget_create(name="Watch", amount="10", period="daily", thresholds=[0.1])
    reservation = budget_reserve(agent_name="A", key_prefix="", model="m", amount=Decimal("2"))
    assert reservation.counter_ids == () and not BudgetCounter.objects.exists()
    spend("1.25")
    assert budget_spend(budget=budget).spend == Decimal("1.25")
    assert [e.threshold for e in budgets_evaluate()] == [Decimal("0.1")]


def test_an_unpriced_model_reserves_nothing(fake_openai, prices):
    amount = async_to_sync(reservation_estimate)(
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=1000,
        model="brand-new-model",
        kinds=["openai"],
    )
    assert amount == 0


def test_the_reservation_covers_max_tokens_or_the_configured_default(settings, prices):
    messages = [{"role": "user", "content": "hi"}]
    small = async_to_sync(reservation_estimate)(
        messages=messages, max_tokens=10, model="gpt-4o", kinds=["openai"]
    )
    settings.LLM_MAX_TOKENS = 4000
    default = async_to_sync(reservation_estimate)(
        messages=messages, max_tokens=None, model="gpt-4o", kinds=["openai"]
    )
    assert Decimal(0) < small < default
    assert default >= Decimal("0.04")  # 4000 output tokens at $10/M


# --- downgrade -------------------------------------------------------------------------


def test_past_its_amount_a_downgrade_budget_serves_the_cheaper_model(fake_openai, prices):
    budget_create(
        name="Save",
        amount="1",
        period="daily",
        scope="agent",
        scope_value="CTO Agent",
        action="downgrade",
        downgrade_model="gpt-4o-mini",
    )
    spend("1.2")
    response = ask(fake_openai, model="gpt-4o")
    assert response.content
    assert fake_openai.chat_calls[0].body["model"] == "gpt-4o-mini"
    call = LLMCall.objects.get(requested_model="gpt-4o")
    assert (call.requested_model, call.model, call.downgraded) == ("gpt-4o", "gpt-4o-mini", True)


def test_under_its_amount_a_downgrade_budget_changes_nothing(fake_openai, prices):
    budget_create(
        name="Save",
        amount="100",
        period="daily",
        action="downgrade",
        downgrade_model="gpt-4o-mini",
    )
    ask(fake_openai, model="gpt-4o")
    call = LLMCall.objects.get()
    assert (call.model, call.downgraded) == ("gpt-4o", False)


# --- reconcile --------------------------------------------------------------------------


def test_evaluation_brings_a_counter_behind_the_log_up_to_it():
    budget_create(name="All", amount="10", period="daily", action="block")
    budget_reserve(agent_name="A", key_prefix="", model="m", amount=Decimal(0))
    spend("1.25")  # recorded without a reservation (e.g. it started before the budget)
    assert counter().spent == 0
    budgets_evaluate()
    assert counter().spent == Decimal("1.25")


def test_evaluation_keeps_a_counter_ahead_of_the_log_but_an_exact_reconcile_resets_it():
    from costs.models import Budget
    from costs.reservations import counter_reconcile

    budget_create(name="All", amount="10", period="daily", action="block")
    budget_reserve(agent_name="A", key_prefix="", model="m", amount=Decimal(0))
    BudgetCounter.objects.update(spent=Decimal("7"))  # settled; its row not written yet
    spend("1.25")
    budgets_evaluate()
    assert counter().spent == Decimal("7")
    counter_reconcile(budget=Budget.objects.get(), exact=True)  # what reprice does
    assert counter().spent == Decimal("1.25")


def test_evaluation_releases_a_reservation_left_by_a_crashed_process():
    budget_create(name="All", amount="10", period="daily", action="block")
    budget_reserve(agent_name="A", key_prefix="", model="m", amount=Decimal("3"))
    budgets_evaluate()
    assert counter().reserved == Decimal("3")  # still possibly in flight
    BudgetCounter.objects.update(updated_at=timezone.now() - timedelta(hours=1))
    budgets_evaluate()
    assert counter().reserved == 0
