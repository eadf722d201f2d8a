"""Agents with the official ``anthropic`` SDK, pointed at the gateway's /v1/messages,
relayed to the real local fake of the Anthropic Messages API."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import anthropic
import httpx
import pytest
from django.utils import timezone

from calls.models import LLMCall
from costs.budgets import budget_create
from costs.pricing import COST_QUANTUM, price_for
from costs.reprice import calls_reprice
from tests.fake_anthropic import anthropic_input_tokens
from tests.providers_support import (
    claude_only,
    expected_cost,
    fresh_routing,  # noqa: F401 - fixture
)

pytestmark = pytest.mark.django_db(transaction=True)

UPSTREAM_KEY = "sk-ant-messages-test-key"
MODEL = "claude-haiku-4-5"
HELLO = [{"role": "user", "content": "Hello there gateway"}]


@pytest.fixture
def claude(fake_anthropic, monkeypatch, settings, prices):
    return claude_only(
        fake_anthropic, monkeypatch, settings, key=UPSTREAM_KEY, env="MESSAGES_TEST_ANTHROPIC_KEY"
    )


def sdk(live_gateway, key: str, **options) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=live_gateway.url, api_key=key, max_retries=0, **options)


def the_call(**filters) -> LLMCall:
    """The one row of the call, waiting for a stream's row (written as it ends)."""
    deadline = time.monotonic() + 5
    while not LLMCall.objects.filter(**filters).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return LLMCall.objects.get(**filters)


def test_a_message_is_relayed_as_sent_and_recorded_as_a_messages_call(
    live_gateway, make_key, claude
):
    raw = sdk(live_gateway, make_key("writer")).messages.with_raw_response.create(
        model=MODEL,
        max_tokens=200,
        system="Be terse.",
        messages=HELLO,
        metadata={"user_id": "user-7"},
        extra_body={"top_k": 5, "temperature": 0.5, "unknown_to_the_gateway": {"kept": True}},
    )
    message = raw.parse()
    assert message.content[0].text.startswith("Fake answer to: Hello there gateway")
    assert message.stop_reason == "end_turn"
    sent = claude.message_calls[0].body
    # Native: the system prompt stays a string, unknown fields arrive untouched.
    assert sent["system"] == "Be terse." and (sent["top_k"], sent["temperature"]) == (5, 0.5)
    assert sent["metadata"] == {"user_id": "user-7"}
    assert sent["unknown_to_the_gateway"] == {"kept": True}
    call = the_call()
    assert (call.operation, call.provider, call.status, call.stream) == (
        "messages",
        "claude",
        "success",
        False,
    )
    assert (call.prompt_tokens, call.completion_tokens) == (
        message.usage.input_tokens,
        message.usage.output_tokens,
    )
    assert call.cost == expected_cost(
        "anthropic",
        MODEL,
        prompt_tokens=call.prompt_tokens,
        completion_tokens=call.completion_tokens,
    )
    assert call.cost > 0
    assert raw.headers["x-gateway-provider"] == "claude"
    assert raw.headers["x-gateway-request-id"] == str(call.id)
    assert raw.request_id == str(call.id)


def test_cache_reads_and_writes_are_priced_at_their_own_rates(live_gateway, make_key, claude):
    claude.cache_read_input_tokens, claude.cache_creation_input_tokens = 3000, 2000
    claude.cache_creation_1h_input_tokens = 500  # of the 2000 writes
    message = sdk(live_gateway, make_key()).messages.create(
        model=MODEL, max_tokens=100, messages=HELLO
    )
    usage = message.usage
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (3000, 2000)
    price = price_for(MODEL, provider="anthropic")
    assert price.cache_write_1h_per_m > price.cache_write_per_m > price.input_per_m
    assert price.input_per_m > price.cached_input_per_m
    micro = (
        usage.input_tokens * price.input_per_m
        + 3000 * price.cached_input_per_m
        + 1500 * price.cache_write_per_m
        + 500 * price.cache_write_1h_per_m
        + usage.output_tokens * price.output_per_m
    )
    call = the_call()
    assert call.cost == (micro / Decimal(1_000_000)).quantize(COST_QUANTUM, ROUND_HALF_UP)
    assert call.cached_tokens == 3000
    assert call.prompt_tokens == usage.input_tokens + 3000 + 2000
    assert (call.metadata["cache_write_tokens"], call.metadata["cache_write_1h_tokens"]) == (
        2000,
        500,
    )
    before = call.cost
    calls_reprice(since=call.created_at, by="test")  # the same price: the same cost
    call.refresh_from_db()
    assert call.cost == before


def test_a_stream_arrives_as_anthropic_events_and_its_record_has_a_ttft(
    live_gateway, make_key, claude
):
    claude.cache_read_input_tokens = 40
    client = sdk(live_gateway, make_key())
    with client.messages.stream(model=MODEL, max_tokens=300, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.startswith("Fake answer to: Hello there gateway")
    assert final.content[0].text == text
    assert final.usage.output_tokens == len(text.split())
    assert final.usage.cache_read_input_tokens == 40
    call = the_call()
    assert (call.operation, call.stream, call.status) == ("messages", True, "success")
    assert call.completion_tokens == final.usage.output_tokens
    assert call.cached_tokens == 40
    assert call.ttft_ms is not None and call.ttft_ms <= call.latency_ms
    assert call.cost > 0
    assert claude.message_calls[0].body["stream"] is True


def test_raw_stream_events_come_in_anthropic_order(live_gateway, make_key, claude):
    events = sdk(live_gateway, make_key()).messages.create(
        model=MODEL, max_tokens=50, messages=HELLO, stream=True
    )
    kinds = [event.type for event in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert "content_block_delta" in kinds


def test_count_tokens_answers_anthropic_count_and_is_recorded_at_zero(
    live_gateway, make_key, claude
):
    counted = sdk(live_gateway, make_key()).messages.count_tokens(
        model=MODEL, system="Be terse.", messages=HELLO
    )
    assert counted.input_tokens == anthropic_input_tokens(
        {"system": "Be terse.", "messages": HELLO}
    )
    call = the_call(operation="count_tokens")
    assert (call.cost, call.prompt_tokens, call.status) == (Decimal(0), 0, "success")
    assert call.metadata["input_tokens"] == counted.input_tokens
    assert claude.message_calls == []  # counting never asks for a completion


def test_bearer_auth_works_like_x_api_key(live_gateway, make_key, claude):
    client = anthropic.Anthropic(
        base_url=live_gateway.url, auth_token=make_key(), api_key=None, max_retries=0
    )
    message = client.messages.create(model=MODEL, max_tokens=20, messages=HELLO)
    assert message.role == "assistant"


def test_anthropic_beta_header_is_relayed(live_gateway, make_key, claude):
    sdk(live_gateway, make_key()).messages.create(
        model=MODEL,
        max_tokens=20,
        messages=HELLO,
        extra_headers={"anthropic-beta": "context-1m-2025-08-07"},
    )
    assert claude.message_calls[0].headers["anthropic-beta"] == "context-1m-2025-08-07"


# --- errors, all Anthropic-shaped -----------------------------------------------------------


def test_a_bad_key_is_an_authentication_error(live_gateway, claude):
    with pytest.raises(anthropic.AuthenticationError) as info:
        sdk(live_gateway, "gw_nothere_" + "x" * 30).messages.create(
            model=MODEL, max_tokens=20, messages=HELLO
        )
    assert info.value.body["error"]["type"] == "authentication_error"
    assert claude.message_calls == []


def test_a_model_no_anthropic_provider_serves_is_a_clear_400(live_gateway, make_key, claude):
    with pytest.raises(anthropic.BadRequestError) as info:
        sdk(live_gateway, make_key()).messages.create(
            model="gpt-4o-mini", max_tokens=20, messages=HELLO
        )
    assert info.value.body["error"]["type"] == "invalid_request_error"
    assert "/v1/chat/completions" in info.value.body["error"]["message"]
    assert claude.message_calls == []


def test_a_model_the_key_may_not_use_is_a_permission_error(live_gateway, make_key, claude):
    key = make_key(allowed_models=["claude-opus-*"])
    with pytest.raises(anthropic.PermissionDeniedError) as info:
        sdk(live_gateway, key).messages.create(model=MODEL, max_tokens=20, messages=HELLO)
    assert info.value.body["error"]["type"] == "permission_error"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": MODEL, "messages": HELLO}, "max_tokens"),
        ({"model": MODEL, "max_tokens": 10}, "messages"),
        ({"max_tokens": 10, "messages": HELLO}, "model"),
        ({"model": MODEL, "max_tokens": 10, "messages": [{"role": "system"}]}, "messages.0"),
        ({"model": MODEL, "max_tokens": 10, "messages": HELLO, "temperature": 3}, "temperature"),
    ],
)
def test_a_bad_body_is_an_invalid_request_error_naming_the_field(
    live_gateway, make_key, claude, body, field
):
    answer = httpx.post(
        f"{live_gateway.url}/v1/messages", json=body, headers={"x-api-key": make_key()}
    )
    assert answer.status_code == 400
    error = answer.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"].startswith(field)
    assert claude.message_calls == []


def test_malformed_json_and_wrong_method_are_anthropic_shaped(live_gateway, make_key, claude):
    headers = {"x-api-key": make_key(), "content-type": "application/json"}
    broken = httpx.post(f"{live_gateway.url}/v1/messages", content=b"{nope", headers=headers)
    wrong = httpx.get(f"{live_gateway.url}/v1/messages", headers=headers)
    assert (broken.status_code, broken.json()["error"]["type"]) == (400, "invalid_request_error")
    assert (wrong.status_code, wrong.json()["type"]) == (405, "error")


def test_an_unknown_claude_model_is_a_not_found_error(live_gateway, make_key, claude):
    claude.known_models = {MODEL}
    with pytest.raises(anthropic.NotFoundError) as info:
        sdk(live_gateway, make_key()).messages.create(
            model="claude-nonexistent-9", max_tokens=20, messages=HELLO
        )
    assert info.value.body["error"]["type"] == "not_found_error"
    assert the_call().status == "error"


def test_an_upstream_refusal_before_the_stream_keeps_its_status(live_gateway, make_key, claude):
    claude.fail_next(1, 400, message="messages.0.content: too long")
    client = sdk(live_gateway, make_key())
    with (
        pytest.raises(anthropic.BadRequestError) as info,
        client.messages.stream(model=MODEL, max_tokens=20, messages=HELLO) as stream,
    ):
        stream.get_final_message()
    assert info.value.body["error"]["message"] == "messages.0.content: too long"


def test_a_spent_budget_is_a_billing_error_the_sdk_does_not_retry(live_gateway, make_key, claude):
    budget_create(name="cap", amount="1", period="daily", action="block")
    LLMCall.objects.create(agent_name="spender", model=MODEL, cost=Decimal("2"))
    client = anthropic.Anthropic(base_url=live_gateway.url, api_key=make_key(), max_retries=2)
    with pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(model=MODEL, max_tokens=20, messages=HELLO)
    assert info.value.body["error"]["type"] == "billing_error"
    assert info.value.response.headers["x-should-retry"] == "false"
    assert LLMCall.objects.filter(status="blocked", operation="messages").count() == 1
    assert claude.message_calls == []


def test_a_rate_limited_key_gets_a_429_with_limit_headers_and_a_row(live_gateway, make_key, claude):
    client = sdk(live_gateway, make_key("hasty", rpm_limit=1))
    first = client.messages.with_raw_response.create(model=MODEL, max_tokens=20, messages=HELLO)
    assert first.headers["x-ratelimit-limit-requests"] == "1"
    assert first.headers["x-ratelimit-remaining-requests"] == "0"
    assert first.headers["anthropic-ratelimit-requests-remaining"] == "0"
    reset = datetime.fromisoformat(first.headers["anthropic-ratelimit-requests-reset"])
    assert timezone.now() < reset <= timezone.now() + timedelta(seconds=61)
    with pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(model=MODEL, max_tokens=20, messages=HELLO)
    assert info.value.body["error"]["type"] == "rate_limit_error"
    assert info.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    refused = LLMCall.objects.get(status="rate_limited")
    assert (refused.operation, refused.cost, refused.http_status) == ("messages", 0, 429)
    assert (refused.agent_name, refused.model) == ("hasty", MODEL)


def test_inline_validation_scores_the_message(live_gateway, make_key, claude):
    raw = sdk(live_gateway, make_key()).messages.with_raw_response.create(
        model=MODEL,
        max_tokens=200,
        messages=HELLO,
        extra_headers={"x-gateway-validate": "inline"},
    )
    score = float(raw.headers["x-gateway-validation"])
    assert 0 <= score <= 1
    assert the_call().metadata["validation"]["quality_score"] == score


# --- the response cache ---------------------------------------------------------------------


def test_an_identical_deterministic_message_is_answered_from_the_cache(
    live_gateway, make_key, claude
):
    client = sdk(live_gateway, make_key())
    ask = {"model": MODEL, "max_tokens": 100, "messages": HELLO, "extra_body": {"temperature": 0}}
    first = client.messages.with_raw_response.create(**ask)
    again = client.messages.with_raw_response.create(**ask)
    assert (first.headers["x-gateway-cache"], again.headers["x-gateway-cache"]) == ("miss", "hit")
    assert again.parse().content == first.parse().content
    assert again.parse().usage.output_tokens == first.parse().usage.output_tokens
    assert len(claude.message_calls) == 1
    hit = LLMCall.objects.get(cache_hit=True)
    assert (hit.operation, hit.cost, hit.provider) == ("messages", Decimal(0), "cache")
    assert hit.saved_cost == LLMCall.objects.get(cache_hit=False).cost
    assert again.request_id == str(hit.id)


def test_a_cached_message_is_replayed_as_a_stream_the_sdk_rebuilds(live_gateway, make_key, claude):
    client = sdk(live_gateway, make_key())
    ask = {"model": MODEL, "max_tokens": 100, "messages": HELLO, "extra_body": {"temperature": 0}}
    stored = client.messages.create(**ask)
    with client.messages.stream(**ask) as stream:
        text = "".join(stream.text_stream)
        replayed = stream.get_final_message()
    assert text == stored.content[0].text
    assert (replayed.stop_reason, replayed.usage.output_tokens) == (
        stored.stop_reason,
        stored.usage.output_tokens,
    )
    assert len(claude.message_calls) == 1


def test_a_cached_tool_use_is_replayed_streamed(live_gateway, make_key, claude):
    claude.tool_use = {"name": "get_weather", "input": {"city": "Paris"}}
    tools = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    client = sdk(live_gateway, make_key())
    ask = {"model": MODEL, "max_tokens": 100, "messages": HELLO, "tools": tools}
    ask["extra_body"] = {"temperature": 0}
    stored = client.messages.create(**ask)
    with client.messages.stream(**ask) as stream:
        replayed = stream.get_final_message()
    assert replayed.content[0].type == "tool_use"
    assert replayed.content[0].input == stored.content[0].input == {"city": "Paris"}
    assert len(claude.message_calls) == 1


def test_messages_and_chat_never_share_a_cache_entry(live_gateway, make_key, claude):
    import openai

    key = make_key()
    sdk(live_gateway, key).messages.create(
        model=MODEL, max_tokens=100, messages=HELLO, extra_body={"temperature": 0}
    )
    chat = openai.OpenAI(base_url=live_gateway.base_url, api_key=key, max_retries=0)
    raw = chat.chat.completions.with_raw_response.create(
        model=MODEL, max_tokens=100, messages=HELLO, temperature=0
    )
    assert raw.headers["x-gateway-cache"] == "miss"
    assert raw.parse().object == "chat.completion"


def test_a_streamed_answer_is_cached_and_served_whole(live_gateway, make_key, claude):
    client = sdk(live_gateway, make_key())
    ask = {"model": MODEL, "max_tokens": 100, "messages": HELLO, "extra_body": {"temperature": 0}}
    with client.messages.stream(**ask) as stream:
        streamed = stream.get_final_message()
    the_call()  # the stream's row is written (and its answer stored) as it ends
    raw = client.messages.with_raw_response.create(**ask)
    assert raw.headers["x-gateway-cache"] == "hit"
    whole = raw.parse()
    assert whole.content[0].text == streamed.content[0].text
    assert (whole.stop_reason, whole.usage.output_tokens) == (
        "end_turn",
        streamed.usage.output_tokens,
    )
    assert len(claude.message_calls) == 1


def _body(**fields) -> bytes:
    base = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    return json.dumps({**base, **fields}).encode()


HOSTILE_BODIES = [
    b"[]",
    b'"text"',
    b"null",
    b"\xff\xfe",
    b'{"model": "claude-haiku-4-5", "max_tokens": 1e400, "messages": "hi"}',
    _body(model={"a": 1}, messages=[]),
    _body(model="claude-x\u0000"),
    _body(model="m" * 300),
    _body(max_tokens=True, messages=[{"role": "user"}]),
    _body(messages=[{"role": ["user"], "content": "x"}]),
    _body(messages=[{"role": "user", "content": [1]}]),
    _body(stop_sequences=[1]),
    _body(system=7),
    _body(top_p="high"),
]


@pytest.mark.parametrize("body", HOSTILE_BODIES)
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
def test_hostile_bodies_get_an_anthropic_400_and_never_reach_the_provider(
    client, make_key, claude, body, path
):
    answer = client.post(
        path, data=body, content_type="application/json", HTTP_X_API_KEY=make_key()
    )
    assert answer.status_code == 400, answer.content
    error = answer.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert claude.calls == []
    assert not LLMCall.objects.exists()


def test_an_oversized_body_is_request_too_large(client, make_key, claude, settings):
    settings.GATEWAY_MAX_BODY_BYTES = 200
    body = _body(messages=[{"role": "user", "content": "x" * 300}])
    answer = client.post(
        "/v1/messages", data=body, content_type="application/json", HTTP_X_API_KEY=make_key()
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["type"] == "request_too_large"
    assert claude.calls == []
