"""Per-agent policy: an answer that fails validation is retried once on a stronger model."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from calls.models import LLMCall
from llm_gateway.interface import LLMRequest
from llm_gateway.manager import LLMManager
from llm_gateway.providers.openai_provider import OpenAIProvider
from validation.models import ValidationPolicy, ValidationRule
from validation.policy import validation_policy_cache_clear
from validation.selectors import invalidate_rules_cache as rules_cache_clear

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_caches():
    validation_policy_cache_clear()
    rules_cache_clear()
    yield
    validation_policy_cache_clear()
    rules_cache_clear()


def manager_for(fake) -> LLMManager:
    provider = OpenAIProvider(api_key="sk-test", model="gpt-4o-mini", base_url=fake.base_url)
    return LLMManager([provider], fallback_models=[], mock_fallback=False, max_retries=0)


def require_roi() -> None:
    ValidationRule.objects.create(
        name="business terms",
        agent_name="CTO Agent",
        kind="required_terms",
        config={"terms": ["ROI"]},
        severity="error",
    )


def test_invalid_answer_is_retried_once_on_the_policy_model_and_both_calls_recorded(fake_openai):
    require_roi()
    ValidationPolicy.objects.create(agent_name="CTO Agent", retry_model="gpt-4o")
    response = async_to_sync(manager_for(fake_openai).generate_response)(
        LLMRequest(prompt="Should we migrate?"), validate_response=True, agent_name="CTO Agent"
    )
    first, second = LLMCall.objects.order_by("recorded_at")
    assert [c.body["model"] for c in fake_openai.chat_calls] == ["gpt-4o-mini", "gpt-4o"]
    assert (first.model, second.model) == ("gpt-4o-mini", "gpt-4o")
    assert second.metadata["validation_retry_of"] == str(first.id)
    assert response.model == "gpt-4o"
    assert response.metadata["validation_retry_of"] == str(first.id)
    assert first.validation.is_valid is False and second.validation.is_valid is False


def test_valid_answers_and_agents_without_a_policy_are_not_retried(fake_openai):
    require_roi()
    async_to_sync(manager_for(fake_openai).generate_response)(
        LLMRequest(prompt="Should we migrate?"), validate_response=True, agent_name="CTO Agent"
    )
    ValidationPolicy.objects.create(agent_name="Support Bot", retry_model="gpt-4o")
    async_to_sync(manager_for(fake_openai).generate_response)(
        LLMRequest(prompt="Reset my password"), validate_response=True, agent_name="Support Bot"
    )
    assert len(fake_openai.chat_calls) == 2
    assert LLMCall.objects.count() == 2
