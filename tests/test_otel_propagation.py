"""Context propagation on every endpoint: the agent's ``traceparent`` makes the
gateway's span a child of the agent's, and the provider is sent the gateway's
own ``traceparent`` (the agent's trace, the gateway's span as parent), as the
fake upstreams record it. No exporter is needed: the ids are the call's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from calls.models import LLMCall
from tests.providers_support import claude_only, fresh_routing  # noqa: F401 - fixture
from tests.test_api_messages import HELLO, MODEL, UPSTREAM_KEY, sdk, the_call

pytestmark = pytest.mark.django_db(transaction=True)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
AGENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE}-{AGENT_SPAN}-01"
ASK = [{"role": "user", "content": "Trace me"}]
GPT = "gpt-4o-mini"

# operation: (what the agent asks with its SDK, streamed or not; the upstream path)
OPENAI_ASKS: dict[str, tuple[Callable[[openai.OpenAI, bool], Any], str]] = {
    "chat": (
        lambda c, stream: c.chat.completions.create(model=GPT, messages=ASK, stream=stream),
        "/chat/completions",
    ),
    "embeddings": (
        lambda c, _: c.embeddings.create(model="text-embedding-3-small", input="Trace me"),
        "/embeddings",
    ),
    "responses": (
        lambda c, stream: c.responses.create(model=GPT, input="Trace me", stream=stream),
        "/responses",
    ),
    "completions": (
        lambda c, stream: c.completions.create(model=GPT, prompt="Trace me", stream=stream),
        "/completions",
    ),
    "moderations": (lambda c, _: c.moderations.create(input="Trace me"), "/moderations"),
}
STREAMED = ("chat", "responses", "completions")
CASES = [(op, False) for op in OPENAI_ASKS] + [(op, True) for op in STREAMED]


def traced_client(live_gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=live_gateway.base_url,
        api_key=key,
        max_retries=0,
        default_headers={"traceparent": TRACEPARENT},
    )


def assert_child_sent_upstream(call: LLMCall, sent: dict[str, str]) -> None:
    """The call is a child of the agent's span, and the provider was told the
    call's span is its parent, in the agent's trace."""
    assert (call.trace_id, call.parent_id) == (TRACE, AGENT_SPAN)
    assert len(call.span_id) == 16 and call.span_id != AGENT_SPAN
    assert sent.get("traceparent") == f"00-{TRACE}-{call.span_id}-01"


@pytest.mark.parametrize(("operation", "stream"), CASES)
def test_every_openai_endpoint_sends_the_gateways_traceparent_upstream(
    operation, stream, live_gateway, upstream, prices, make_key
):
    ask, path = OPENAI_ASKS[operation]
    answer = ask(traced_client(live_gateway, make_key()), stream)
    if stream:
        list(answer)
    call = the_call(operation=operation)
    (sent,) = [c for c in upstream.calls if c.path.endswith(path)]
    assert_child_sent_upstream(call, sent.headers)


def test_reading_a_stored_response_sends_the_gateways_traceparent(
    live_gateway, upstream, prices, make_key
):
    client = traced_client(live_gateway, make_key())
    made = client.responses.create(model="gpt-4o-mini", input="Keep this")
    client.responses.retrieve(made.id)
    read = the_call(operation="responses", request_body__method="GET")
    (sent,) = [c for c in upstream.calls if c.method == "GET" and made.id in c.path]
    assert_child_sent_upstream(read, sent.headers)


@pytest.fixture
def claude(fake_anthropic, monkeypatch, settings, prices):
    return claude_only(
        fake_anthropic, monkeypatch, settings, key=UPSTREAM_KEY, env="PROPAGATION_ANTHROPIC_KEY"
    )


@pytest.mark.parametrize("stream", [False, True])
def test_messages_send_the_gateways_traceparent_to_anthropic(
    stream, live_gateway, make_key, claude
):
    client = sdk(live_gateway, make_key(), default_headers={"traceparent": TRACEPARENT})
    answer = client.messages.create(model=MODEL, max_tokens=50, messages=HELLO, stream=stream)
    if stream:
        list(answer)
    (sent,) = claude.message_calls
    assert_child_sent_upstream(the_call(operation="messages"), sent.headers)


def test_count_tokens_sends_the_gateways_traceparent_to_anthropic(live_gateway, make_key, claude):
    client = sdk(live_gateway, make_key(), default_headers={"traceparent": TRACEPARENT})
    client.messages.count_tokens(model=MODEL, messages=HELLO)
    (sent,) = [c for c in claude.calls if c.path.endswith("/count_tokens")]
    assert_child_sent_upstream(the_call(operation="count_tokens"), sent.headers)
