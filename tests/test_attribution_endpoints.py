"""Attribution on every endpoint, not only chat: the operation endpoints
(embeddings, responses) and Anthropic's /v1/messages read the same headers."""

from __future__ import annotations

import anthropic
import openai
import pytest

from tests.providers_support import claude_only, fresh_routing  # noqa: F401 - fixture
from tests.test_api_messages import HELLO, MODEL, UPSTREAM_KEY, sdk, the_call

pytestmark = pytest.mark.django_db(transaction=True)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


@pytest.fixture
def claude(fake_anthropic, monkeypatch, settings, prices):
    return claude_only(
        fake_anthropic,
        monkeypatch,
        settings,
        key=UPSTREAM_KEY,
        env="ATTRIBUTION_TEST_ANTHROPIC_KEY",
    )


def openai_client(live_gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=live_gateway.base_url, api_key=key, max_retries=0)


def test_an_embedding_call_is_attributed_like_a_chat_call(live_gateway, upstream, prices, make_key):
    raw = openai_client(live_gateway, make_key()).embeddings.with_raw_response.create(
        model="text-embedding-3-small",
        input="the quick brown fox",
        user="customer-9",
        extra_headers={
            "x-gateway-session-id": "index-run-3",
            "x-gateway-tag-team": "search",
            "traceparent": f"00-{TRACE}-{PARENT}-01",
        },
    )
    call = the_call(operation="embeddings")
    assert (call.session_id, call.end_user, call.tags) == (
        "index-run-3",
        "customer-9",
        {"team": "search"},
    )
    assert (call.trace_id, call.parent_id) == (TRACE, PARENT)
    assert raw.headers["x-gateway-trace-id"] == TRACE
    assert raw.headers["x-gateway-span-id"] == call.span_id


def test_a_responses_call_takes_its_metadata_as_tags(live_gateway, upstream, prices, make_key):
    openai_client(live_gateway, make_key()).responses.create(
        model="gpt-4o-mini",
        input="Hello there",
        metadata={"env": "staging"},
        extra_headers={"x-gateway-tag-team": "search", "x-gateway-step": "draft"},
    )
    call = the_call(operation="responses")
    assert call.tags == {"env": "staging", "team": "search"}
    assert call.step == "draft"


def test_a_bad_tag_on_an_operation_is_refused_before_any_provider(
    live_gateway, upstream, prices, make_key
):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client(live_gateway, make_key()).embeddings.create(
            model="text-embedding-3-small",
            input="x",
            extra_headers={"x-gateway-tag-team": "v" * 300},
        )
    assert caught.value.code == "invalid_attribution"
    assert upstream.operation_calls("embeddings") == []


def test_a_message_names_its_end_user_from_metadata_and_joins_the_trace(
    live_gateway, make_key, claude
):
    raw = sdk(live_gateway, make_key()).messages.with_raw_response.create(
        model=MODEL,
        max_tokens=50,
        messages=HELLO,
        metadata={"user_id": "user-7"},
        extra_headers={"x-gateway-session-id": "chat-12", "traceparent": f"00-{TRACE}-{PARENT}-01"},
    )
    call = the_call(operation="messages")
    assert (call.end_user, call.session_id, call.trace_id) == ("user-7", "chat-12", TRACE)
    assert raw.headers["x-gateway-span-id"] == call.span_id
    sent = claude.message_calls[0].headers["traceparent"]
    assert sent == f"00-{TRACE}-{call.span_id}-01"


def test_an_end_user_header_wins_over_the_messages_metadata(live_gateway, make_key, claude):
    sdk(live_gateway, make_key()).messages.create(
        model=MODEL,
        max_tokens=50,
        messages=HELLO,
        metadata={"user_id": "user-7"},
        extra_headers={"x-gateway-user": "account-1"},
    )
    assert the_call(operation="messages").end_user == "account-1"


def test_bad_attribution_on_messages_is_an_anthropic_shaped_400(live_gateway, make_key, claude):
    with pytest.raises(anthropic.BadRequestError) as caught:
        sdk(live_gateway, make_key()).messages.create(
            model=MODEL,
            max_tokens=50,
            messages=HELLO,
            extra_headers={"x-gateway-trace-id": "not-hex"},
        )
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert "x-gateway-trace-id" in caught.value.body["error"]["message"]
    assert claude.message_calls == []


def test_body_metadata_that_is_no_tag_set_is_forwarded_not_refused(
    live_gateway, upstream, prices, make_key
):
    """OpenAI's metadata allows values the tag limits do not: the body is the
    provider's to judge, so such metadata is relayed and simply not taken as tags."""
    metadata = {"note": "n" * 400}
    openai_client(live_gateway, make_key()).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Hello"}],
        metadata=metadata,
        user="u" * 300,
        extra_headers={"x-gateway-tag-team": "search"},
    )
    call = the_call(operation="chat")
    assert call.tags == {"team": "search"} and call.end_user == ""
    assert upstream.chat_calls[0].body["metadata"] == metadata
