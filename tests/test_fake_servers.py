"""Drive the fake upstreams through the real SDKs.

Why: the fakes are only useful if the official clients accept every shape they produce (bodies,
SSE chunks, error JSON, headers); these tests pin that down so gateway tests can trust them.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests import fake_anthropic as fake_anthropic_module
from tests import fake_openai as fake_openai_module
from tests.fake_anthropic import FakeAnthropic
from tests.fake_openai import FakeOpenAI, default_reply

# Re-export the shared fixtures so pytest finds them here (a conftest.py can do the same).
fake_openai = fake_openai_module.fake_openai
fake_anthropic = fake_anthropic_module.fake_anthropic

TESTS_DIR = Path(__file__).resolve().parent
QUESTION = "What is the capital of France and why is it famous today?"
MESSAGES = [{"role": "user", "content": QUESTION}]


def client(fake: FakeOpenAI, **kwargs: Any) -> openai.OpenAI:
    """A real SDK client pointed at the fake; no retries unless a test asks for them."""
    kwargs.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=fake.base_url, api_key="sk-test", **kwargs)


def claude(fake: FakeAnthropic, **kwargs: Any) -> anthropic.Anthropic:
    kwargs.setdefault("max_retries", 0)
    return anthropic.Anthropic(base_url=fake.base_url, api_key="sk-ant", **kwargs)


def cause_chain(exc: BaseException | None) -> str:
    """All messages down the ``__cause__``/``__context__`` chain (the SDK wraps httpx errors)."""
    parts = []
    while exc is not None:
        parts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return " <- ".join(parts)


# -- OpenAI ------------------------------------------------------------------------------------


def test_non_stream_completion_is_deterministic_and_recorded(fake_openai: FakeOpenAI) -> None:
    raw = client(fake_openai).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES
    )
    completion = raw.parse()
    expected = default_reply(QUESTION, "OpenAI")
    assert raw.headers["x-request-id"].startswith("req_fake_")
    assert completion.id.startswith("chatcmpl-fake-")
    assert completion.model == "gpt-4o-mini"
    assert completion.choices[0].message.content == expected
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == len(QUESTION.split()) + 3
    assert completion.usage.completion_tokens == len(expected.split()) >= 20
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + len(expected.split())
    assert completion.usage.prompt_tokens_details.cached_tokens == 0
    assert completion.usage.completion_tokens_details.reasoning_tokens == 0
    [call] = fake_openai.chat_calls
    assert call.method == "POST" and call.path == "/v1/chat/completions"
    assert call.headers["authorization"] == "Bearer sk-test"
    assert call.body["messages"] == MESSAGES


def test_stream_with_usage_concatenates_to_reply(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply = "  One two three, four five.  "
    fake_openai.cached_tokens = 2
    stream = client(fake_openai).chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    deltas = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(deltas) == fake_openai.reply
    assert len([d for d in deltas if d]) == 5
    assert chunks[-2].choices[0].finish_reason == "stop"
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage.completion_tokens == 5
    assert usage_chunk.usage.prompt_tokens_details.cached_tokens == 2


def test_stream_without_include_usage_has_no_usage_chunk(fake_openai: FakeOpenAI) -> None:
    stream = client(fake_openai).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    chunks = list(stream)
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


def test_max_tokens_cuts_reply_with_length(fake_openai: FakeOpenAI) -> None:
    completion = client(fake_openai).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, max_completion_tokens=4
    )
    assert completion.choices[0].message.content == "Fake answer to: What"
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 4


def test_prompt_tokens_count_text_parts(fake_openai: FakeOpenAI) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "one two"}, {"type": "text", "text": "three"}],
        },
    ]
    completion = client(fake_openai).chat.completions.create(model="gpt-4o", messages=messages)
    assert completion.usage.prompt_tokens == 2 + 3 + 3 + 3


def test_rate_limit_with_retry_after_then_recovers(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(1, 429, retry_after="7")
    with pytest.raises(openai.RateLimitError) as info:
        client(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.type == "requests"
    assert (
        client(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices
    )


def test_queued_failures_are_retried_by_sdk(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(1, 500)
    fake_openai.fail_next(1, 429, retry_after="0", code="insufficient_quota")
    with pytest.raises(openai.InternalServerError):
        client(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError) as info:
        client(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.code == info.value.type == "insufficient_quota"
    fake_openai.fail_next(1, 503, retry_after="0")
    retrying = client(fake_openai, max_retries=1)
    assert retrying.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices
    assert len(fake_openai.chat_calls) == 4


def test_fail_always_until_reset(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_always = (500,)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            client(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    fake_openai.fail_always_with(400, message="nope")
    with pytest.raises(openai.BadRequestError, match="nope"):
        client(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    fake_openai.reset()
    assert fake_openai.calls == [] and fake_openai.fail_always is None
    assert (
        client(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices
    )


def test_wrong_api_key_is_401(fake_openai: FakeOpenAI) -> None:
    fake_openai.expected_api_key = "sk-right"
    with pytest.raises(openai.AuthenticationError) as info:
        client(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.code == "invalid_api_key"
    right = openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-right", max_retries=0)
    assert right.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices


def test_unknown_model_is_404(fake_openai: FakeOpenAI) -> None:
    fake_openai.known_models = {"gpt-4o-mini"}
    with pytest.raises(openai.NotFoundError) as info:
        client(fake_openai).chat.completions.create(model="gpt-9", messages=MESSAGES)
    assert info.value.code == "model_not_found"
    assert "The model `gpt-9` does not exist or you do not have access to it." in str(info.value)
    assert [m.id for m in client(fake_openai).models.list()] == ["gpt-4o-mini"]


def test_hang_triggers_client_timeout(fake_openai: FakeOpenAI) -> None:
    fake_openai.hang = 5
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client(fake_openai, timeout=0.3).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES
        )
    assert time.monotonic() - started < 2


def test_stop_drops_in_flight_requests() -> None:
    fake = FakeOpenAI().start()
    fake.hang = 30
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client(fake, timeout=20).chat.completions.create(model="m", messages=MESSAGES)
        except openai.APIConnectionError as exc:
            errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    while not fake.calls:
        time.sleep(0.01)
    started = time.monotonic()
    fake.stop()
    worker.join(timeout=5)
    assert time.monotonic() - started < 3
    assert len(errors) == 1


def test_reset_mid_stream_raises_in_sdk(fake_openai: FakeOpenAI) -> None:
    fake_openai.reset_stream_after = 3
    stream = client(fake_openai).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError) as info:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "incomplete chunked read" in cause_chain(info.value)
    assert "".join(received) == "Fake answer to: "


def test_tool_call_and_json_mode(fake_openai: FakeOpenAI) -> None:
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {}}}]
    fake_openai.tool_call = {"name": "weather", "arguments": '{"city": "Paris"}'}
    completion = client(fake_openai).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, tools=tools
    )
    [call] = completion.choices[0].message.tool_calls
    assert (call.function.name, call.function.arguments) == ("weather", '{"city": "Paris"}')
    assert completion.choices[0].finish_reason == "tool_calls"
    stream = client(fake_openai).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, tools=tools, stream=True
    )
    pieces = [
        tc.function.arguments or ""
        for chunk in stream
        for tc in (chunk.choices[0].delta.tool_calls or [])
    ]
    assert "".join(pieces) == '{"city": "Paris"}'
    fake_openai.tool_call = None
    answer = client(fake_openai).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, response_format={"type": "json_object"}
    )
    assert json.loads(answer.choices[0].message.content)["answer"].startswith("Fake answer")


def test_json_schema_reply_matches_schema(fake_openai: FakeOpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "rank": {"type": "integer"}},
        "required": ["city", "rank"],
        "additionalProperties": False,
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    answer = client(fake_openai).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, response_format=response_format
    )
    value = json.loads(answer.choices[0].message.content)
    assert isinstance(value["city"], str) and value["rank"] == 1


def test_azure_shape(fake_openai: FakeOpenAI) -> None:
    fake_openai.expected_api_key = "azure-key"
    fake_openai.deployments = {"prod-mini": "gpt-4o-mini"}
    azure = openai.AzureOpenAI(
        azure_endpoint=fake_openai.url, api_version="2024-10-21", api_key="azure-key", max_retries=0
    )
    completion = azure.chat.completions.create(model="prod-mini", messages=MESSAGES)
    assert completion.model == "gpt-4o-mini"
    [call] = fake_openai.chat_calls
    assert call.path == "/openai/deployments/prod-mini/chat/completions"
    assert call.query == {"api-version": "2024-10-21"}
    assert call.headers["api-key"] == "azure-key"
    fake_openai.known_models = {"prod-mini"}
    with pytest.raises(openai.NotFoundError):
        azure.chat.completions.create(model="other", messages=MESSAGES)


def test_raw_http_validation_and_unknown_path(fake_openai: FakeOpenAI) -> None:
    url = f"{fake_openai.base_url}/chat/completions"
    bad_json = httpx.post(url, content=b"{nope", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["type"] == "invalid_request_error"
    no_messages = httpx.post(url, json={"model": "gpt-4o-mini"})
    assert no_messages.json()["error"]["code"] == "missing_required_parameter"
    missing = httpx.get(f"{fake_openai.base_url}/nowhere")
    assert missing.status_code == 404 and set(missing.json()["error"]) == {
        "message",
        "type",
        "param",
        "code",
    }
    assert len(fake_openai.calls) == 3 and fake_openai.calls[0].body is None


def test_fifty_concurrent_async_requests(fake_openai: FakeOpenAI) -> None:
    fake_openai.latency = 0.2
    fake_openai.chunk_delay = 0.005

    async def run() -> list[str]:
        aclient = openai.AsyncOpenAI(base_url=fake_openai.base_url, api_key="sk", max_retries=0)

        async def one(i: int) -> str:
            messages = [{"role": "user", "content": f"question {i}"}]
            if i % 2:
                done = await aclient.chat.completions.create(model="gpt-4o", messages=messages)
                return done.choices[0].message.content
            stream = await aclient.chat.completions.create(
                model="gpt-4o", messages=messages, stream=True
            )
            return "".join([c.choices[0].delta.content or "" async for c in stream])

        async with aclient:
            return await asyncio.gather(*(one(i) for i in range(50)))

    started = time.monotonic()
    answers = asyncio.run(run())
    assert time.monotonic() - started < 4
    assert answers == [default_reply(f"question {i}", "OpenAI") for i in range(50)]
    assert len(fake_openai.chat_calls) == 50


# -- Anthropic ---------------------------------------------------------------------------------


def test_anthropic_message_with_cache_usage(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.cache_read_input_tokens = 11
    fake_anthropic.cache_creation_input_tokens = 5
    message = claude(fake_anthropic).messages.create(
        model="claude-haiku-4-5",
        max_tokens=100,
        system=[{"type": "text", "text": "Be brief please."}],
        messages=MESSAGES,
    )
    assert message.id.startswith("msg_fake_")
    assert message.content[0].text == default_reply(QUESTION, "Anthropic")
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 3 + len(QUESTION.split()) + 3
    assert message.usage.output_tokens == len(message.content[0].text.split())
    assert message.usage.cache_read_input_tokens == 11
    assert message.usage.cache_creation_input_tokens == 5
    [call] = fake_anthropic.calls
    assert call.path == "/v1/messages" and "anthropic-version" in call.headers


def test_anthropic_stream_helper_final_usage(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.reply = "alpha beta gamma delta epsilon"
    fake_anthropic.cache_read_input_tokens = 7
    with claude(fake_anthropic).messages.stream(
        model="claude-haiku-4-5", max_tokens=4, messages=MESSAGES
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "alpha beta gamma delta"
    assert final.stop_reason == "max_tokens"
    assert final.usage.output_tokens == 4
    assert final.usage.input_tokens == len(QUESTION.split()) + 3
    assert final.usage.cache_read_input_tokens == 7


def test_anthropic_raw_stream_event_order(fake_anthropic: FakeAnthropic) -> None:
    events = claude(fake_anthropic).messages.create(
        model="claude-haiku-4-5",
        max_tokens=50,
        messages=MESSAGES,
        stop_sequences=["deterministic"],
        stream=True,
    )
    kinds = [event.type for event in events]
    assert kinds[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    body = (fake_anthropic.calls[0].body or {})["stop_sequences"]
    assert body == ["deterministic"]


def test_anthropic_stop_sequence_and_tool_use(fake_anthropic: FakeAnthropic) -> None:
    api = claude(fake_anthropic)
    stopped = api.messages.create(
        model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES, stop_sequences=["capital"]
    )
    assert stopped.content[0].text == "Fake answer to: What is the "
    assert (stopped.stop_reason, stopped.stop_sequence) == ("stop_sequence", "capital")
    fake_anthropic.tool_use = {"name": "weather", "input": {"city": "Paris"}}
    tools = [{"name": "weather", "description": "d", "input_schema": {"type": "object"}}]
    used = api.messages.create(
        model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES, tools=tools
    )
    assert used.stop_reason == "tool_use"
    assert (used.content[0].name, used.content[0].input) == ("weather", {"city": "Paris"})
    with api.messages.stream(
        model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES, tools=tools
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].input == {"city": "Paris"}


def test_anthropic_errors(fake_anthropic: FakeAnthropic) -> None:
    api = claude(fake_anthropic)
    fake_anthropic.fail_next(1, 529, retry_after="3")
    fake_anthropic.fail_next(1, 429)
    with pytest.raises(anthropic.OverloadedError) as overloaded:
        api.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=MESSAGES)
    assert overloaded.value.response.headers["retry-after"] == "3"
    assert overloaded.value.body["error"]["type"] == "overloaded_error"
    with pytest.raises(anthropic.RateLimitError):
        api.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=MESSAGES)
    fake_anthropic.expected_api_key = "right"
    with pytest.raises(anthropic.AuthenticationError):
        api.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=MESSAGES)
    fake_anthropic.expected_api_key = None
    fake_anthropic.known_models = {"claude-haiku-4-5"}
    with pytest.raises(anthropic.NotFoundError):
        api.messages.create(model="claude-nope", max_tokens=5, messages=MESSAGES)
    no_max_tokens = httpx.post(
        f"{fake_anthropic.url}/v1/messages",
        json={"model": "claude-haiku-4-5", "messages": MESSAGES},
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
    )
    assert no_max_tokens.status_code == 400
    assert no_max_tokens.json()["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Field required",
    }
    assert [m.id for m in api.models.list()] == ["claude-haiku-4-5"]


def test_anthropic_reset_mid_stream(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.reset_stream_after = 2
    with (
        pytest.raises(Exception) as info,
        claude(fake_anthropic).messages.stream(
            model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES
        ) as stream,
    ):
        list(stream.text_stream)
    assert not isinstance(info.value, AssertionError)


# -- script mode -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "path"), [("fake_openai.py", "/v1/models"), ("fake_anthropic.py", "/v1/models")]
)
def test_runs_as_a_process(script: str, path: str) -> None:
    process = subprocess.Popen(
        [sys.executable, str(TESTS_DIR / script), "--port", "0", "--latency-ms", "10"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("ready http://127.0.0.1:")
        response = httpx.get(line.removeprefix("ready ") + path)
        assert response.status_code == 200 and response.json()["data"]
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
