"""The gateway core against a real local OpenAI-compatible server, through the real SDK."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from calls.models import LLMCall
from costs.models import ModelPrice
from llm_gateway.interface import (
    LLMAuthenticationError,
    LLMModelNotFoundError,
    LLMProviderError,
    LLMRateLimitError,
    LLMRequest,
    LLMTimeoutError,
)
from llm_gateway.manager import LLMManager
from llm_gateway.providers.openai_provider import OpenAIProvider

pytestmark = pytest.mark.django_db(transaction=False)


def provider_for(fake, **kwargs) -> OpenAIProvider:
    options = {"api_key": "sk-test-not-real", "model": "gpt-4o-mini", "base_url": fake.base_url}
    options.update(kwargs)
    return OpenAIProvider(**options)


def manager_for(fake, *, fallback_models=(), mock_fallback=False, max_retries=3, timeout=30, **kw):
    return LLMManager(
        [provider_for(fake, **kw)],
        fallback_models=list(fallback_models),
        mock_fallback=mock_fallback,
        max_retries=max_retries,
        timeout=timeout,
    )


def run(coro_fn, *args, **kwargs):
    return async_to_sync(coro_fn)(*args, **kwargs)


def test_successful_call_is_logged_and_priced(fake_openai, prices):
    response = run(
        manager_for(fake_openai).generate_response,
        LLMRequest(prompt="Say hello"),
        agent_name="CTO Agent",
    )
    call = LLMCall.objects.get()
    assert response.content.startswith("Fake answer to: Say hello")
    assert call.agent_name == "CTO Agent"
    assert call.status == "success"
    assert call.provider == "openai"
    assert call.prompt_tokens == response.token_usage.prompt_tokens > 0
    assert call.cost == response.token_usage.estimated_cost > 0
    assert isinstance(response.token_usage.estimated_cost, Decimal)


def test_retry_after_header_is_honoured(fake_openai, prices):
    fake_openai.fail_next(1, 429, retry_after="1")
    started = time.monotonic()
    response = run(manager_for(fake_openai).generate_response, LLMRequest(prompt="hi"))
    elapsed = time.monotonic() - started
    assert elapsed >= 1.0
    assert len(fake_openai.chat_calls) == 2
    call = LLMCall.objects.get()
    assert (call.status, call.retries) == ("success", 1)
    assert response.metadata["retries"] == 1


def test_authentication_error_is_not_retried(fake_openai):
    fake_openai.fail_next(1, 401)
    with pytest.raises(LLMAuthenticationError):
        run(manager_for(fake_openai).generate_response, LLMRequest(prompt="hi"))
    assert len(fake_openai.chat_calls) == 1
    call = LLMCall.objects.get()
    assert (call.status, call.error_type, call.retries) == ("error", "LLMAuthenticationError", 0)


def test_unknown_model_comes_back_as_model_not_found_without_failover(fake_openai):
    fake_openai.known_models = {"gpt-4o-mini"}
    manager = manager_for(fake_openai, fallback_models=["gpt-4o-mini"], mock_fallback=True)
    with pytest.raises(LLMModelNotFoundError):
        run(manager.generate_response, LLMRequest(prompt="hi", model="gpt-9-imaginary"))
    assert len(fake_openai.chat_calls) == 1
    assert LLMCall.objects.get().http_status == 404


def test_timeout_becomes_llm_timeout_error(fake_openai):
    fake_openai.hang = 3
    provider = provider_for(fake_openai, timeout=0.5, max_retries=0)
    with pytest.raises(LLMTimeoutError):
        run(provider.generate_response, LLMRequest(prompt="hi"))


def test_failing_primary_fails_over_to_the_next_model(fake_openai, prices):
    fake_openai.fail_next(2, 500)  # the primary and its one retry
    manager = manager_for(fake_openai, fallback_models=["gpt-4o"], max_retries=1)
    response = run(manager.generate_response, LLMRequest(prompt="hi", model="gpt-4o-mini"))
    assert response.model == "gpt-4o"
    call = LLMCall.objects.get()
    assert (call.status, call.fallback, call.model, call.requested_model) == (
        "success",
        "model",
        "gpt-4o",
        "gpt-4o-mini",
    )
    assert call.retries == 1
    models = [c.body["model"] for c in fake_openai.chat_calls]
    assert models == ["gpt-4o-mini", "gpt-4o-mini", "gpt-4o"]


def test_mock_answers_when_every_provider_is_down(fake_openai):
    fake_openai.fail_always_with(500)
    manager = manager_for(
        fake_openai, fallback_models=["gpt-4o"], mock_fallback=True, max_retries=0
    )
    response = run(manager.generate_response, LLMRequest(prompt="hi"))
    assert response.provider == "mock"
    assert response.metadata["fallback"] == "mock"
    call = LLMCall.objects.get()
    assert (call.provider, call.fallback, call.status, call.cost) == ("mock", "mock", "success", 0)


def test_every_provider_down_without_mock_raises_and_is_logged(fake_openai):
    fake_openai.fail_always_with(500)
    with pytest.raises(LLMProviderError):
        run(manager_for(fake_openai, max_retries=1).generate_response, LLMRequest(prompt="hi"))
    call = LLMCall.objects.get()
    # The row keeps what the caller was answered; the provider's own status beside it.
    assert (call.status, call.retries, call.http_status) == ("error", 1, 502)
    assert call.metadata["upstream_status"] == 500


def test_cost_uses_the_price_in_force_at_call_time(fake_openai, prices):
    manager = manager_for(fake_openai)
    run(manager.generate_response, LLMRequest(prompt="first call"))
    ModelPrice.objects.create(
        provider="openai",
        model="gpt-4o-mini",
        input_per_m=Decimal("1.00"),
        output_per_m=Decimal("2.00"),
        cached_input_per_m=None,
        effective_from=timezone.now() - timedelta(milliseconds=1),
    )
    run(manager.generate_response, LLMRequest(prompt="second call"))
    first, second = LLMCall.objects.order_by("created_at")
    expected_first = (
        Decimal(first.prompt_tokens) * Decimal("0.15")
        + Decimal(first.completion_tokens) * Decimal("0.60")
    ) / Decimal(1_000_000)
    expected_second = (
        Decimal(second.prompt_tokens) * Decimal("1.00")
        + Decimal(second.completion_tokens) * Decimal("2.00")
    ) / Decimal(1_000_000)
    assert first.cost == expected_first.quantize(Decimal("1E-10"))
    assert second.cost == expected_second.quantize(Decimal("1E-10"))
    assert (first.input_price_per_m, second.input_price_per_m) == (Decimal("0.15"), Decimal("1.00"))


def test_cached_tokens_are_priced_at_the_cached_rate(fake_openai, prices):
    fake_openai.cached_tokens = 4
    response = run(manager_for(fake_openai).generate_response, LLMRequest(prompt="a b c d e f g h"))
    usage = response.token_usage
    expected = (
        (usage.prompt_tokens - 4) * Decimal("0.15")
        + 4 * Decimal("0.075")
        + usage.completion_tokens * Decimal("0.60")
    ) / Decimal(1_000_000)
    assert LLMCall.objects.get().cost == expected.quantize(Decimal("1E-10"))
    assert LLMCall.objects.get().cached_tokens == 4


def test_unpriced_model_is_served_at_cost_zero_and_flagged(fake_openai, prices):
    run(manager_for(fake_openai).generate_response, LLMRequest(prompt="hi", model="my-llama"))
    call = LLMCall.objects.get()
    assert (call.status, call.cost, call.priced) == ("success", 0, False)


def test_stream_usage_equals_the_upstream_usage_chunk_and_ttft_is_recorded(fake_openai, prices):
    fake_openai.chunk_delay = 0.01

    async def consume():
        chunks = [
            c
            async for c in manager_for(fake_openai).stream_response(
                LLMRequest(prompt="stream this please"), agent_name="streamer"
            )
        ]
        return chunks

    chunks = run(consume)
    text = "".join(c.delta for c in chunks)
    usage = [c.usage for c in chunks if c.usage][-1]
    call = LLMCall.objects.get()
    assert fake_openai.chat_calls[0].body["stream_options"] == {"include_usage": True}
    assert call.stream is True
    assert (call.prompt_tokens, call.completion_tokens) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )
    assert call.completion_tokens == len(text.split())
    assert call.ttft_ms is not None and 0 < call.ttft_ms <= call.latency_ms
    assert call.response_body["content"] == text
    assert call.cost > 0


def test_stream_retries_before_the_first_chunk(fake_openai, prices):
    fake_openai.fail_next(1, 500)

    async def consume():
        return [c async for c in manager_for(fake_openai).stream_response(LLMRequest(prompt="x y"))]

    run(consume)
    call = LLMCall.objects.get()
    assert (call.status, call.retries) == ("success", 1)


def test_stream_cut_mid_way_is_recorded_once_with_partial_tokens(fake_openai, prices):
    fake_openai.reset_stream_after = 3

    async def consume():
        got = []
        with pytest.raises(LLMProviderError):
            async for chunk in manager_for(fake_openai, max_retries=0).stream_response(
                LLMRequest(prompt="tell me a long story")
            ):
                got.append(chunk)
        return got

    got = run(consume)
    call = LLMCall.objects.get()
    assert call.status == "error"
    assert call.completion_tokens >= 1
    assert call.metadata.get("usage_estimated") is True
    assert "".join(c.delta for c in got) == call.response_body["content"]


def test_consumer_closing_a_stream_early_records_client_disconnected(fake_openai, prices):
    async def consume_two():
        stream = manager_for(fake_openai).stream_response(LLMRequest(prompt="one two three four"))
        seen = 0
        async for chunk in stream:
            seen += bool(chunk.delta)
            if seen == 2:
                break
        await stream.aclose()

    run(consume_two)
    call = LLMCall.objects.get()
    assert call.status == "client_disconnected"
    assert call.completion_tokens >= 1


def test_fifty_concurrent_calls_make_exactly_fifty_rows(fake_openai, prices):
    manager = manager_for(fake_openai)

    async def burst():
        return await asyncio.gather(
            *(
                manager.generate_response(LLMRequest(prompt=f"question {i}"), agent_name="burst")
                for i in range(50)
            )
        )

    responses = run(burst)
    assert len(responses) == 50
    assert LLMCall.objects.filter(agent_name="burst").count() == 50
    assert len({r.metadata["request_id"] for r in responses}) == 50
    assert len(fake_openai.chat_calls) == 50


def test_open_circuit_skips_a_dead_provider(fake_openai, settings):
    settings.LLM_CIRCUIT_FAILURES = 2
    fake_openai.fail_always_with(500)
    manager = manager_for(fake_openai, mock_fallback=True, max_retries=0)
    for _ in range(3):
        run(manager.generate_response, LLMRequest(prompt="hi"))
    assert len(fake_openai.chat_calls) == 2  # the third call went straight to the mock
    health = run(manager.health_check)
    assert health["providers"][0]["circuit"] == "open"
    assert LLMCall.objects.filter(fallback="mock").count() == 3


def test_bodies_are_stored_redacted_and_can_be_switched_off(fake_openai, settings):
    secret = "sk-proj-" + "A" * 40
    run(manager_for(fake_openai).generate_response, LLMRequest(prompt=f"my key is {secret}"))
    call = LLMCall.objects.get()
    assert secret not in str(call.request_body)
    assert "[REDACTED]" in str(call.request_body)
    settings.LLM_STORE_BODIES = False
    run(manager_for(fake_openai).generate_response, LLMRequest(prompt="no bodies"))
    assert LLMCall.objects.order_by("-recorded_at").first().request_body is None


def test_no_key_means_the_mock_provider(settings):
    settings.OPENAI_API_KEY = ""
    response = run(LLMManager().generate_response, LLMRequest(prompt="offline"))
    assert response.provider == "mock"
    assert "[mock answer]" in response.content
    assert LLMCall.objects.get().provider == "mock"


def test_full_openai_body_is_forwarded(fake_openai):
    request = LLMRequest(
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=50,
        extra={"seed": 7, "top_p": 0.5, "tools": [{"type": "function", "function": {"name": "f"}}]},
    )
    run(manager_for(fake_openai).generate_response, request)
    body = fake_openai.chat_calls[0].body
    assert (body["seed"], body["top_p"], body["max_tokens"]) == (7, 0.5, 50)
    assert body["tools"][0]["function"]["name"] == "f"


def test_a_rate_limit_storm_does_not_open_the_circuit(fake_openai, settings):
    settings.LLM_CIRCUIT_FAILURES = 2
    fake_openai.fail_next(6, 429, retry_after="0")
    manager = manager_for(fake_openai, max_retries=0)
    for _ in range(3):
        with pytest.raises(LLMRateLimitError):
            run(manager.generate_response, LLMRequest(prompt="hi"))
    assert run(manager.health_check)["providers"][0]["circuit"] == "closed"
    assert len(fake_openai.chat_calls) == 3
