"""OpenAI-format requests to Claude, through the official anthropic SDK, against
the real local fake of the Messages API (its URL, headers, JSON and SSE events)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from calls.models import LLMCall
from llm_gateway.interface import (
    LLMAuthenticationError,
    LLMInvalidRequestError,
    LLMModelNotFoundError,
    LLMProviderError,
    LLMRateLimitError,
    LLMRequest,
)
from llm_gateway.providers.anthropic_provider import AnthropicProvider
from tests.fake_anthropic import anthropic_input_tokens
from tests.providers_support import (
    anthropic_row,
    expected_cost,
    fresh_routing,  # noqa: F401 - fixture
    routed_manager,
    run,
)

pytestmark = pytest.mark.django_db(transaction=False)

KEY = "sk-ant-test-key-for-the-fake"
MODEL = "claude-haiku-4-5"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


@pytest.fixture
def claude(fake_anthropic, monkeypatch, prices):
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", KEY)
    fake_anthropic.expected_api_key = KEY
    anthropic_row(fake_anthropic)
    return fake_anthropic


def ask(**kwargs) -> LLMRequest:
    messages = kwargs.pop(
        "messages",
        [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [{"type": "text", "text": "What is a gateway?"}]},
        ],
    )
    return LLMRequest(messages=messages, model=kwargs.pop("model", MODEL), **kwargs)


def stream_all(manager, request):
    async def collect():
        return [chunk async for chunk in manager.stream_response(request)]

    return run(collect)


def test_openai_request_gets_an_openai_answer_priced_at_the_anthropic_price(claude):
    response = run(routed_manager().generate_response, ask(max_tokens=200))

    answer = ChatCompletion.model_validate(response.raw)  # the OpenAI SDK's own schema
    assert answer.choices[0].message.content.startswith("Fake answer to: What is a gateway?")
    assert answer.choices[0].finish_reason == "stop"
    sent = claude.message_calls[0]
    assert sent.body["system"] == [{"type": "text", "text": "You are terse."}]
    assert sent.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What is a gateway?"}]}
    ]
    assert sent.body["max_tokens"] == 200
    bearer = sent.headers.get("authorization", "").removeprefix("Bearer ")
    sent_key = sent.headers.get("x-api-key") or bearer
    assert sent_key == KEY and "anthropic-version" in sent.headers
    call = LLMCall.objects.get()
    assert (call.provider, call.provider_kind, call.model) == ("claude", "anthropic", MODEL)
    usage = response.token_usage
    assert call.cost == expected_cost(
        "anthropic",
        MODEL,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
    )
    assert call.cost > 0 and call.input_price_per_m == Decimal("1.00")


def test_streamed_answer_is_openai_chunks_with_a_final_usage_chunk(claude):
    chunks = stream_all(routed_manager(), ask())

    parsed = [ChatCompletionChunk.model_validate(c.raw) for c in chunks]
    assert parsed[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in parsed if c.choices)
    assert text.startswith("Fake answer to: What is a gateway?")
    assert [c.choices[0].finish_reason for c in parsed if c.choices][-1] == "stop"
    assert parsed[-1].choices == [] and parsed[-1].usage.completion_tokens == len(text.split())
    call = LLMCall.objects.get()
    assert (call.stream, call.provider, call.status) == (True, "claude", "success")
    assert call.completion_tokens == len(text.split()) and call.ttft_ms is not None
    assert call.cost == expected_cost(
        "anthropic",
        MODEL,
        prompt_tokens=call.prompt_tokens,
        completion_tokens=call.completion_tokens,
    )


@pytest.mark.parametrize("stream", [False, True])
def test_cache_reads_and_writes_are_counted_and_priced_at_their_rates(claude, stream):
    claude.cache_read_input_tokens = 1000
    claude.cache_creation_input_tokens = 400
    manager = routed_manager()
    if stream:
        stream_all(manager, ask())
    else:
        run(manager.generate_response, ask())

    call = LLMCall.objects.get()
    input_tokens = anthropic_input_tokens(claude.message_calls[0].body)  # what the fake billed
    assert call.prompt_tokens == input_tokens + 1000 + 400  # OpenAI style: cache included
    assert call.cached_tokens == 1000
    assert call.metadata["cache_write_tokens"] == 400
    # 1.00/M input, 0.10/M cache read, 1.25/M cache write, 5.00/M output
    expected = (
        Decimal(input_tokens) * Decimal("1.00")
        + 1000 * Decimal("0.10")
        + 400 * Decimal("1.25")
        + call.completion_tokens * Decimal("5.00")
    ) / 1_000_000
    assert call.cost == expected.quantize(Decimal("1E-10"))


def test_tool_calls_and_tool_results_translate_both_ways(claude):
    claude.tool_use = {"name": "get_weather", "input": {"city": "Paris"}}
    response = run(routed_manager().generate_response, ask(extra={"tools": TOOLS}))

    answer = ChatCompletion.model_validate(response.raw)
    call = answer.choices[0].message.tool_calls[0]
    assert answer.choices[0].finish_reason == "tool_calls"
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_weather",
        {"city": "Paris"},
    )
    sent_tool = claude.message_calls[0].body["tools"][0]
    assert sent_tool["name"] == "get_weather" and sent_tool["input_schema"]["type"] == "object"

    follow_up = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
    ]
    claude.tool_use = None
    run(routed_manager().generate_response, ask(messages=follow_up, extra={"tools": TOOLS}))
    turns = claude.message_calls[1].body["messages"]
    assert turns[1]["content"] == [
        {"type": "tool_use", "id": call.id, "name": "get_weather", "input": {"city": "Paris"}}
    ]
    assert turns[2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18C and sunny"}],
    }


def test_streamed_tool_call_arrives_as_openai_tool_call_deltas(claude):
    claude.tool_use = {"name": "get_weather", "input": {"city": "Paris"}}
    chunks = stream_all(routed_manager(), ask(extra={"tools": TOOLS}))

    deltas = [
        ChatCompletionChunk.model_validate(c.raw).choices[0].delta.tool_calls
        for c in chunks
        if c.raw["choices"] and c.raw["choices"][0]["delta"].get("tool_calls")
    ]
    assert deltas[0][0].function.name == "get_weather" and deltas[0][0].id.startswith("toolu_")
    arguments = "".join(d[0].function.arguments or "" for d in deltas)
    assert json.loads(arguments) == {"city": "Paris"}
    assert chunks[-2].finish_reason == "tool_calls"


def test_stop_sequences_and_max_tokens_map_to_finish_reasons(claude):
    stopped = run(routed_manager().generate_response, ask(extra={"stop": ["gateway"]}))
    assert claude.message_calls[0].body["stop_sequences"] == ["gateway"]
    assert stopped.finish_reason == "stop" and "gateway" not in stopped.content
    cut = run(routed_manager().generate_response, ask(max_tokens=3))
    assert cut.finish_reason == "length" and len(cut.content.split()) == 3


def provider_for(fake) -> AnthropicProvider:
    return AnthropicProvider(api_key=KEY, base_url=fake.base_url, max_retries=0)


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (401, LLMAuthenticationError),
        (400, LLMInvalidRequestError),
        (404, LLMModelNotFoundError),
        (529, LLMProviderError),
        (500, LLMProviderError),
    ],
)
def test_anthropic_errors_map_to_the_gateway_hierarchy(fake_anthropic, status, error_type):
    fake_anthropic.fail_next(1, status)
    with pytest.raises(error_type) as raised:
        run(provider_for(fake_anthropic).complete, ask())
    assert type(raised.value) is error_type
    assert raised.value.status_code == status and raised.value.provider == "anthropic"
    assert raised.value.permanent == (status < 500)


def test_rate_limit_carries_retry_after(fake_anthropic):
    fake_anthropic.fail_next(1, 429, retry_after="7")
    with pytest.raises(LLMRateLimitError) as raised:
        run(provider_for(fake_anthropic).complete, ask())
    assert raised.value.retry_after == 7


def test_overloaded_is_retried_then_answers(claude):
    claude.fail_next(1, 529)
    response = run(routed_manager().generate_response, ask())
    call = LLMCall.objects.get()
    assert response.content and (call.status, call.retries, call.provider) == (
        "success",
        1,
        "claude",
    )


def test_health_check_lists_models_and_never_completes(fake_anthropic):
    result = run(provider_for(fake_anthropic).health_check)
    assert result["healthy"] is True
    assert [c.path for c in fake_anthropic.calls] == ["/v1/models"]


# --- translation details, without the network -------------------------------------------


def test_multi_part_content_images_and_turn_merging_translate():
    from llm_gateway.providers.anthropic_translate import anthropic_body

    request = LLMRequest(
        messages=[
            {"role": "system", "content": "Rule one."},
            {"role": "developer", "content": [{"type": "text", "text": "Rule two."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
                ],
            },
            {"role": "user", "content": "Be brief."},
        ],
        model=MODEL,
        temperature=1.7,
        extra={"top_p": 0.9, "seed": 7, "tool_choice": "required", "user": "agent-7"},
    )
    body = anthropic_body(request, "unused-default", None)

    assert body["system"] == [
        {"type": "text", "text": "Rule one."},
        {"type": "text", "text": "Rule two."},
    ]
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these?"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
                },
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
                {"type": "text", "text": "Be brief."},  # consecutive user turns merged
            ],
        }
    ]
    assert body["temperature"] == 1.0  # clamped to Anthropic's range
    assert body["top_p"] == 0.9 and "seed" not in body  # no Anthropic equivalent: dropped
    assert body["metadata"] == {"user_id": "agent-7"}
    assert "tool_choice" not in body  # only sent alongside tools
    assert body["max_tokens"] > 0  # required by Anthropic, defaulted from LLM_MAX_TOKENS


def test_tool_choice_variants_translate():
    from llm_gateway.providers.anthropic_translate import anthropic_body

    def choice(value, parallel=None):
        extra = {"tools": TOOLS, "tool_choice": value}
        if parallel is not None:
            extra["parallel_tool_calls"] = parallel
        return anthropic_body(LLMRequest(prompt="x", extra=extra), MODEL, None)["tool_choice"]

    assert choice("auto") == {"type": "auto"}
    assert choice("required") == {"type": "any"}
    assert choice("none") == {"type": "none"}
    named = {"type": "function", "function": {"name": "get_weather"}}
    assert choice(named, parallel=False) == {
        "type": "tool",
        "name": "get_weather",
        "disable_parallel_tool_use": True,
    }


def test_finish_reasons_map_to_openai_names():
    from llm_gateway.providers.anthropic_translate import finish_reason

    assert [finish_reason(r) for r in ("end_turn", "stop_sequence", "max_tokens", "tool_use")] == [
        "stop",
        "stop",
        "length",
        "tool_calls",
    ]
