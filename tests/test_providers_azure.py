"""Azure OpenAI through ``openai.AsyncAzureOpenAI`` against the fake's Azure URL
shapes, and failover from an Azure outage to OpenAI across providers."""

from __future__ import annotations

import pytest

from calls.models import LLMCall
from llm_gateway.circuit import breaker
from llm_gateway.interface import LLMRequest
from tests.fake_openai import FakeOpenAI
from tests.providers_support import (
    add_provider,
    expected_cost,
    fresh_routing,  # noqa: F401 - fixture
    routed_manager,
    run,
)

pytestmark = pytest.mark.django_db(transaction=False)

AZURE_KEY = "azure-test-key-0001"
OPENAI_KEY = "sk-openai-test-key-0002"


@pytest.fixture
def openai_backup(monkeypatch):
    """A second, independent upstream: the plain OpenAI provider."""
    with FakeOpenAI() as fake:
        monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
        fake.expected_api_key = OPENAI_KEY
        add_provider(
            name="openai-direct",
            kind="openai",
            base_url=fake.base_url,
            api_key_env="TEST_OPENAI_KEY",
            models=["gpt-*"],
            priority=20,
        )
        yield fake


@pytest.fixture
def azure(fake_openai, monkeypatch, prices):
    monkeypatch.setenv("TEST_AZURE_KEY", AZURE_KEY)
    fake_openai.expected_api_key = AZURE_KEY
    fake_openai.deployments = {"prod-mini": "gpt-4o-mini"}
    add_provider(
        name="azure-eu",
        kind="azure_openai",
        base_url=fake_openai.url,
        api_version="2024-10-21",
        deployments={"gpt-4o-mini": "prod-mini"},
        api_key_env="TEST_AZURE_KEY",
        models=["gpt-4o*"],
        priority=10,
    )
    return fake_openai


def test_azure_call_uses_the_deployment_url_and_is_priced_as_azure(azure):
    response = run(routed_manager().generate_response, LLMRequest(prompt="hi", model="gpt-4o-mini"))

    sent = azure.chat_calls[0]
    assert sent.path == "/openai/deployments/prod-mini/chat/completions"
    assert sent.query["api-version"] == "2024-10-21"
    assert sent.headers["api-key"] == AZURE_KEY
    assert response.model == "gpt-4o-mini" and response.content.startswith("Fake answer")
    call = LLMCall.objects.get()
    assert (call.provider, call.provider_kind, call.fallback) == ("azure-eu", "azure_openai", "")
    assert call.cost == expected_cost(
        "azure_openai",
        "gpt-4o-mini",
        prompt_tokens=call.prompt_tokens,
        completion_tokens=call.completion_tokens,
    )
    assert call.cost > 0


def test_azure_stream_is_recorded_under_the_azure_provider(azure):
    async def collect():
        request = LLMRequest(prompt="hi", model="gpt-4o-mini")
        return [c async for c in routed_manager().stream_response(request)]

    chunks = run(collect)
    assert "".join(c.delta for c in chunks).startswith("Fake answer")
    call = LLMCall.objects.get()
    assert (call.provider, call.stream, call.model) == ("azure-eu", True, "gpt-4o-mini")
    assert call.completion_tokens > 0 and call.priced


def test_azure_outage_fails_over_to_openai_and_the_record_says_so(azure, openai_backup):
    azure.fail_always_with(503)
    response = run(routed_manager().generate_response, LLMRequest(prompt="hi", model="gpt-4o-mini"))

    assert response.content.startswith("Fake answer")
    assert len(azure.chat_calls) == 2  # the attempt and its one retry
    assert len(openai_backup.chat_calls) == 1
    call = LLMCall.objects.get()
    assert (call.status, call.provider, call.provider_kind, call.fallback) == (
        "success",
        "openai-direct",
        "openai",
        "provider",
    )
    assert call.retries == 1
    assert call.cost == expected_cost(
        "openai",
        "gpt-4o-mini",
        prompt_tokens=call.prompt_tokens,
        completion_tokens=call.completion_tokens,
    )


def test_streaming_fails_over_across_providers_before_the_first_chunk(azure, openai_backup):
    azure.fail_always_with(500)

    async def collect():
        request = LLMRequest(prompt="hi", model="gpt-4o-mini")
        return [c async for c in routed_manager().stream_response(request)]

    assert "".join(c.delta for c in run(collect)).startswith("Fake answer")
    call = LLMCall.objects.get()
    assert (call.provider, call.fallback, call.stream) == ("openai-direct", "provider", True)


def test_open_circuit_skips_azure_and_goes_straight_to_openai(azure, openai_backup, settings):
    settings.LLM_CIRCUIT_FAILURES = 1
    azure.fail_always_with(503)
    manager_kwargs = {"max_retries": 0}
    run(routed_manager(**manager_kwargs).generate_response, LLMRequest(prompt="a"))
    assert breaker.state("azure-eu") == "open"
    run(routed_manager(**manager_kwargs).generate_response, LLMRequest(prompt="b"))

    assert len(azure.chat_calls) == 1  # the second call never reached Azure
    assert len(openai_backup.chat_calls) == 2
    assert list(LLMCall.objects.values_list("provider", flat=True)) == ["openai-direct"] * 2


def test_unmapped_model_is_used_as_the_deployment_name(azure):
    azure.deployments = {"gpt-4o": "gpt-4o"}
    run(routed_manager().generate_response, LLMRequest(prompt="hi", model="gpt-4o"))
    assert azure.chat_calls[0].path == "/openai/deployments/gpt-4o/chat/completions"
    assert LLMCall.objects.get().model == "gpt-4o"
