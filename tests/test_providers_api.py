"""Agents with the OpenAI SDK, through the gateway's HTTP API, to a Claude model."""

from __future__ import annotations

import time
from decimal import Decimal

import openai
import pytest

from calls.models import LLMCall
from tests.providers_support import (
    anthropic_row,
    expected_cost,
    fresh_routing,  # noqa: F401 - fixture
)

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "sk-ant-api-test-key"


@pytest.fixture
def claude(fake_anthropic, monkeypatch, settings, prices):
    settings.LLM_MOCK_FALLBACK = False
    monkeypatch.setenv("API_TEST_ANTHROPIC_KEY", KEY)
    fake_anthropic.expected_api_key = KEY
    anthropic_row(fake_anthropic, name="claude", env="API_TEST_ANTHROPIC_KEY")
    return fake_anthropic


def agent(live_gateway, make_key) -> openai.OpenAI:
    return openai.OpenAI(base_url=live_gateway.base_url, api_key=make_key("agent"), max_retries=0)


def test_sdk_call_to_a_claude_model_is_answered_by_anthropic(live_gateway, make_key, claude):
    raw = agent(live_gateway, make_key).chat.completions.with_raw_response.create(
        model="claude-haiku-4-5",
        messages=[{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}],
    )
    completion = raw.parse()
    assert completion.choices[0].message.content.startswith("Fake answer to: Hi")
    assert completion.choices[0].finish_reason == "stop"
    assert raw.headers["x-gateway-provider"] == "claude"
    call = LLMCall.objects.get()
    assert (call.provider, call.provider_kind) == ("claude", "anthropic")
    assert call.prompt_tokens == completion.usage.prompt_tokens
    assert call.cost == expected_cost(
        "anthropic",
        "claude-haiku-4-5",
        prompt_tokens=call.prompt_tokens,
        completion_tokens=call.completion_tokens,
    )
    assert claude.message_calls[0].body["system"] == [{"type": "text", "text": "Be terse."}]


def test_sdk_stream_from_a_claude_model_arrives_as_openai_chunks(live_gateway, make_key, claude):
    stream = agent(live_gateway, make_key).chat.completions.create(
        model="claude-haiku-4-5",
        messages=[{"role": "user", "content": "Stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Fake answer to: Stream please")
    (usage,) = [c.usage for c in chunks if c.usage]
    assert usage.completion_tokens == len(text.split())
    deadline = time.monotonic() + 5
    while not LLMCall.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # the row is written as the stream ends
    call = LLMCall.objects.get()
    assert (call.provider, call.stream, call.completion_tokens) == (
        "claude",
        True,
        len(text.split()),
    )
    assert call.cost > 0 and call.input_price_per_m == Decimal("1.00")


def test_models_lists_the_anthropic_providers_models_too(live_gateway, make_key, claude):
    from llm_gateway.api.usage import model_list_forget

    model_list_forget()
    ids = {m.id for m in agent(live_gateway, make_key).models.list()}
    assert "gpt-4o-mini" in ids  # priced OpenAI models
    assert {"claude-sonnet-4", "claude-haiku-4-5"} <= ids  # Anthropic: priced and listed
