"""The OpenAI-compatible HTTP API, driven by the official SDK against a live gateway."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import openai
import pytest

from calls.models import GatewayKey, LLMCall

pytestmark = pytest.mark.django_db(transaction=True)


def client_for(live_gateway, key: str, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=live_gateway.base_url, api_key=key, max_retries=0, **kwargs)


def wait_for(predicate, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


def test_sdk_gets_a_non_streaming_answer_and_the_call_is_logged(
    live_gateway, upstream, prices, make_key
):
    key = make_key("CTO Agent")
    raw = client_for(live_gateway, key).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "What is a gateway?"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content.startswith("Fake answer to: What is a gateway?")
    call = LLMCall.objects.get()
    assert (call.agent_name, call.source, call.status, call.model) == (
        "CTO Agent",
        "api",
        "success",
        "gpt-4o-mini",
    )
    assert call.prompt_tokens == completion.usage.prompt_tokens
    assert call.completion_tokens == completion.usage.completion_tokens
    assert call.cost > 0
    assert raw.headers["x-gateway-request-id"] == str(call.id)
    assert Decimal(raw.headers["x-gateway-cost-usd"]) == call.cost
    assert raw.headers["x-gateway-provider"] == "openai"
    assert raw.headers["x-gateway-retries"] == "0"
    assert call.key_prefix and call.gateway_key.agent_name == "CTO Agent"
    assert (
        upstream.chat_calls[0].headers["authorization"]
        == "Bearer " + "sk-upstream-secret-0123456789abcdef"
    )


def test_sdk_streams_with_usage_when_asked(live_gateway, upstream, prices, make_key):
    key = make_key("streamer")
    stream = client_for(live_gateway, key).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Stream a short answer"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = [c.usage for c in chunks if c.usage]
    assert text.startswith("Fake answer to: Stream a short answer")
    assert len(usage) == 1
    call = wait_for(lambda: LLMCall.objects.filter(stream=True).first())
    assert (call.status, call.agent_name) == ("success", "streamer")
    assert (call.prompt_tokens, call.completion_tokens) == (
        usage[0].prompt_tokens,
        usage[0].completion_tokens,
    )
    assert call.ttft_ms is not None and call.cost > 0


def test_stream_without_include_usage_hides_the_usage_chunk_but_records_usage(
    live_gateway, upstream, prices, make_key
):
    stream = client_for(live_gateway, make_key()).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello there"}], stream=True
    )
    chunks = list(stream)
    assert all(c.usage is None for c in chunks)
    assert upstream.chat_calls[0].body["stream_options"] == {"include_usage": True}
    call = wait_for(lambda: LLMCall.objects.first())
    assert call.completion_tokens > 0


def test_agent_name_header_overrides_the_keys_agent(live_gateway, upstream, make_key):
    client = client_for(
        live_gateway,
        make_key("default-agent", allowed_agent_names=["Research Agent"]),
        default_headers={"X-Agent-Name": "Research Agent"},
    )
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert LLMCall.objects.get().agent_name == "Research Agent"


def test_full_body_is_forwarded_to_the_provider(live_gateway, upstream, make_key):
    client_for(live_gateway, make_key()).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "x"}],
        seed=42,
        top_p=0.3,
        response_format={"type": "json_object"},
        tools=[{"type": "function", "function": {"name": "lookup", "parameters": {}}}],
    )
    body = upstream.chat_calls[0].body
    assert (body["seed"], body["top_p"], body["response_format"]) == (
        42,
        0.3,
        {"type": "json_object"},
    )
    assert body["tools"][0]["function"]["name"] == "lookup"
    assert "temperature" not in body  # the agent did not set one; the gateway adds none


def test_unknown_model_is_model_not_found(live_gateway, upstream, make_key):
    upstream.known_models = {"gpt-4o-mini"}
    with pytest.raises(openai.NotFoundError) as caught:
        client_for(live_gateway, make_key()).chat.completions.create(
            model="gpt-imaginary", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.code == "model_not_found"


def test_every_provider_down_is_a_502_openai_error(live_gateway, upstream, make_key, settings):
    settings.LLM_MAX_RETRIES = 0
    upstream.fail_always_with(500)
    with pytest.raises(openai.InternalServerError) as caught:
        client_for(live_gateway, make_key()).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 502
    assert caught.value.body["type"] == "api_error"
    assert LLMCall.objects.get().status == "error"


def test_upstream_timeout_is_a_504(live_gateway, upstream, make_key, settings):
    settings.LLM_TIMEOUT = 0.5
    settings.LLM_MAX_RETRIES = 0
    upstream.hang = 3
    with pytest.raises(openai.APIStatusError) as caught:
        client_for(live_gateway, make_key()).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 504
    assert caught.value.code == "timeout"


def avoid_minute_edge() -> None:
    """Rate limits count per fixed minute; start a limit test well inside one."""
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


def test_rate_limit_per_key_answers_429_with_retry_after(live_gateway, upstream, make_key):
    avoid_minute_edge()
    client = client_for(live_gateway, make_key(rpm_limit=2))
    for _ in range(2):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.code == "rate_limit_exceeded"
    assert 1 <= int(caught.value.response.headers["retry-after"]) <= 60
    assert len(upstream.chat_calls) == 2


def test_token_limit_per_key(live_gateway, upstream, make_key):
    avoid_minute_edge()
    client = client_for(live_gateway, make_key(tpm_limit=10))
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.code == "rate_limit_exceeded"


def test_revoked_and_expired_keys_are_refused(live_gateway, upstream, make_key):
    from django.utils import timezone

    revoked, expired = make_key("a"), make_key("b")
    GatewayKey.objects.filter(agent_name="a").update(revoked_at=timezone.now())
    GatewayKey.objects.filter(agent_name="b").update(expires_at=timezone.now())
    for key in (revoked, expired):
        with pytest.raises(openai.AuthenticationError) as caught:
            client_for(live_gateway, key).chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
            )
        assert caught.value.code == "invalid_api_key"
    assert upstream.chat_calls == []


def test_key_restricted_to_models(live_gateway, upstream, make_key):
    client = client_for(live_gateway, make_key(allowed_models=["gpt-4o-mini", "gpt-4.1-*"]))
    client.chat.completions.create(
        model="gpt-4.1-nano", messages=[{"role": "user", "content": "x"}]
    )
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "model_not_allowed"


def test_client_disconnect_mid_stream_leaves_a_complete_row(
    live_gateway, upstream, prices, make_key
):
    upstream.chunk_delay = 0.05
    upstream.reply = " ".join(f"word{i}" for i in range(200))
    key = make_key("quitter")
    with (
        httpx.Client(timeout=10) as http,
        http.stream(
            "POST",
            live_gateway.base_url + "/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "model": "gpt-4o-mini",
                "stream": True,
                "messages": [{"role": "user", "content": "long story"}],
            },
        ) as response,
    ):
        seen = 0
        for line in response.iter_lines():
            seen += line.startswith("data:")
            if seen >= 4:
                break
    call = wait_for(lambda: LLMCall.objects.filter(status="client_disconnected").first(), 10)
    assert call is not None, list(LLMCall.objects.values_list("status", flat=True))
    assert call.agent_name == "quitter"
    assert 1 <= call.completion_tokens < 200
    assert LLMCall.objects.count() == 1


def test_models_lists_priced_and_provider_models(live_gateway, upstream, prices, make_key):
    ids = [m.id for m in client_for(live_gateway, make_key()).models.list()]
    assert {"gpt-4o-mini", "gpt-4o", "gpt-4.1"} <= set(ids)


def test_usage_endpoint_reports_the_keys_own_spend(live_gateway, upstream, prices, make_key):
    mine, other = make_key("mine"), make_key("other")
    for key in (mine, mine, other):
        client_for(live_gateway, key).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x y z"}]
        )
    response = httpx.get(
        live_gateway.url + "/api/v1/usage?period=monthly",
        headers={"Authorization": f"Bearer {mine}"},
    )
    data = response.json()
    rows = LLMCall.objects.filter(agent_name="mine")
    assert data["calls"] == 2
    assert Decimal(data["cost_usd"]) == sum(r.cost for r in rows)
    bad = httpx.get(
        live_gateway.url + "/api/v1/usage?period=yearly",
        headers={"Authorization": f"Bearer {mine}"},
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "period"


def test_budgets_endpoint_answers_a_list(live_gateway, make_key):
    response = httpx.get(
        live_gateway.url + "/api/v1/budgets", headers={"Authorization": f"Bearer {make_key()}"}
    )
    assert response.status_code == 200
    assert response.json()["object"] == "list"


def test_metrics_count_calls(live_gateway, upstream, make_key):
    client_for(live_gateway, make_key("metered")).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
    )
    text = httpx.get(live_gateway.url + "/metrics").text
    assert 'llm_gateway_requests_total{agent="metered"' in text
    assert "llm_gateway_request_latency_seconds_bucket" in text


def test_inline_validation_returns_a_score_and_stores_the_result(live_gateway, upstream, make_key):
    from validation.models import ValidationResult

    raw = client_for(
        live_gateway, make_key(), default_headers={"x-gateway-validate": "inline"}
    ).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Explain caching"}]
    )
    score = float(raw.headers["x-gateway-validation"])
    result = ValidationResult.objects.get(call_id=raw.headers["x-gateway-request-id"])
    assert 0 <= score <= 1 and result.quality_score == score


def test_key_level_validation_runs_after_the_response(live_gateway, upstream, make_key):
    from validation.models import ValidationResult

    raw = client_for(
        live_gateway, make_key(validate_responses=True)
    ).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Explain caching"}]
    )
    assert "x-gateway-validation" not in raw.headers
    call_id = raw.headers["x-gateway-request-id"]
    assert wait_for(lambda: ValidationResult.objects.filter(call_id=call_id).exists())
