"""Budgets scoped to one end user or one tag, enforced like the other scopes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError

from calls.models import LLMCall
from costs.budgets import budget_create
from costs.selectors import budget_statuses
from llm_gateway.interface import LLMBudgetExceededError, LLMRequest
from llm_gateway.manager import LLMManager
from llm_gateway.providers.openai_provider import OpenAIProvider

pytestmark = pytest.mark.django_db


def ask(fake, **fields):
    provider = OpenAIProvider(api_key="sk-test", model="gpt-4o-mini", base_url=fake.base_url)
    manager = LLMManager([provider], fallback_models=[], mock_fallback=False)
    request = LLMRequest(prompt="hi", max_tokens=50, **fields)
    return async_to_sync(manager.generate_response)(request, agent_name="CTO Agent")


def spent(amount: str, **fields) -> None:
    LLMCall.objects.create(
        agent_name="CTO Agent", model="gpt-4o-mini", cost=Decimal(amount), **fields
    )


def test_a_spent_user_budget_blocks_that_user_only(fake_openai, prices):
    budget_create(
        name="Trial user", amount="1", period="daily", scope="user", scope_value="cust-1",
        action="block",
    )  # fmt: skip
    spent("1.5", end_user="cust-1")
    with pytest.raises(LLMBudgetExceededError):
        ask(fake_openai, end_user="cust-1")
    ask(fake_openai, end_user="cust-2")
    ask(fake_openai)
    assert len(fake_openai.chat_calls) == 2
    assert LLMCall.objects.get(status="blocked").end_user == "cust-1"


def test_a_spent_tag_budget_blocks_calls_with_that_tag_value(fake_openai, prices):
    budget_create(
        name="Search team", amount="1", period="daily", scope="tag", scope_value="team=search",
        action="block",
    )  # fmt: skip
    spent("2", tags={"team": "search"})
    spent("5", tags={"team": "ads"})
    with pytest.raises(LLMBudgetExceededError):
        ask(fake_openai, tags={"team": "search", "env": "prod"})
    ask(fake_openai, tags={"team": "ads"})
    assert len(fake_openai.chat_calls) == 1


def test_user_and_tag_budget_spend_comes_from_the_call_log(fake_openai, prices):
    budget_create(name="U", amount="10", period="monthly", scope="user", scope_value="cust-9")
    budget_create(name="T", amount="10", period="monthly", scope="tag", scope_value="env=prod")
    spent("0.25", end_user="cust-9", tags={"env": "prod"})
    spent("0.5", end_user="cust-9")
    spent("4", end_user="someone-else", tags={"env": "dev"})
    spends = {s.budget.name: s.spent for s in budget_statuses()}
    assert spends == {"U": Decimal("0.75"), "T": Decimal("0.25")}


@pytest.mark.parametrize("value", ["team", "=search", "a__b=c"])
def test_a_tag_budget_needs_name_equals_value(value):
    with pytest.raises(ValidationError):
        budget_create(name="T", amount="1", period="daily", scope="tag", scope_value=value)
