"""Attribution of calls: session, trace, step, end user and tags, from headers,
OpenAI bodies and the Python API, stored on the call and refused when too big."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync

from calls.models import LLMCall
from llm_gateway.interface import LLMInvalidRequestError, LLMRequest
from llm_gateway.manager import LLMManager
from llm_gateway.providers.openai_provider import OpenAIProvider

pytestmark = pytest.mark.django_db

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


def chat(client, key: str, headers: dict[str, str] | None = None, **body):
    payload = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Hello there"}],
        **body,
    }
    return client.post(
        "/v1/chat/completions",
        data=json.dumps(payload),
        content_type="application/json",
        headers={"authorization": f"Bearer {key}", **(headers or {})},
    )


def test_attribution_headers_are_stored_on_the_call(client, upstream, make_key):
    response = chat(
        client,
        make_key("planner"),
        {
            "x-gateway-session-id": "run-2026-12-02-a",
            "x-gateway-trace-id": TRACE.upper(),
            "x-gateway-parent-id": PARENT,
            "x-gateway-step": "plan",
            "x-gateway-user": "customer-42",
            "x-gateway-tag-team": "search",
            "x-gateway-tag-env": "staging",
        },
    )
    assert response.status_code == 200
    call = LLMCall.objects.get()
    assert (call.session_id, call.trace_id, call.parent_id, call.step, call.end_user) == (
        "run-2026-12-02-a",
        TRACE,
        PARENT,
        "plan",
        "customer-42",
    )
    assert call.tags == {"team": "search", "env": "staging"}
    assert len(call.span_id) == 16 and call.span_id != PARENT
    assert response.headers["x-gateway-trace-id"] == TRACE
    assert response.headers["x-gateway-span-id"] == call.span_id


def test_traceparent_gives_the_trace_and_the_gateway_sends_its_own_upstream(
    client, upstream, make_key
):
    response = chat(client, make_key(), {"traceparent": f"00-{TRACE}-{PARENT}-01"})
    assert response.status_code == 200
    call = LLMCall.objects.get()
    assert (call.trace_id, call.parent_id) == (TRACE, PARENT)
    sent = upstream.chat_calls[0].headers["traceparent"]
    assert sent == f"00-{TRACE}-{call.span_id}-01"


def test_an_invalid_traceparent_is_ignored_not_refused(client, upstream, make_key):
    response = chat(client, make_key(), {"traceparent": f"00-{'0' * 32}-{PARENT}-01"})
    assert response.status_code == 200
    call = LLMCall.objects.get()
    assert call.trace_id == "" and "traceparent" not in upstream.chat_calls[0].headers


def test_a_malformed_trace_id_header_is_a_400_naming_it(client, upstream, make_key):
    response = chat(client, make_key(), {"x-gateway-trace-id": "not-hex"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "x-gateway-trace-id" and "32 hexadecimal" in error["message"]
    assert not LLMCall.objects.exists() and not upstream.chat_calls


def test_body_user_and_metadata_attribute_the_call_when_headers_are_absent(
    client, upstream, make_key
):
    chat(client, make_key(), user="end-user-7", metadata={"feature": "summary"})
    call = LLMCall.objects.get()
    assert (call.end_user, call.tags) == ("end-user-7", {"feature": "summary"})
    # The body reaches the provider untouched: the gateway reads it, never strips it.
    assert upstream.chat_calls[0].body["metadata"] == {"feature": "summary"}


def test_headers_win_over_the_body(client, upstream, make_key):
    chat(
        client,
        make_key(),
        {"x-gateway-user": "header-user", "x-gateway-tag-feature": "header"},
        safety_identifier="body-user",
        metadata={"feature": "body", "extra": "kept"},
    )
    call = LLMCall.objects.get()
    assert call.end_user == "header-user"
    assert call.tags == {"feature": "header", "extra": "kept"}


def test_twenty_one_tags_are_refused_with_the_extra_tag_named(client, upstream, make_key):
    headers = {f"x-gateway-tag-t{i:02d}": "v" for i in range(21)}
    response = chat(client, make_key(), headers)
    assert response.status_code == 400
    assert "t20" in response.json()["error"]["message"]
    assert not upstream.chat_calls


def test_a_too_long_tag_value_is_refused_naming_the_tag(client, upstream, make_key):
    response = chat(client, make_key(), {"x-gateway-tag-customer": "x" * 257})
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "customer" in message and "256" in message


def test_a_too_long_session_id_is_refused(client, upstream, make_key):
    ok = chat(client, make_key(), {"x-gateway-session-id": "s" * 200})
    refused = chat(client, make_key("other"), {"x-gateway-session-id": "s" * 201})
    assert ok.status_code == 200
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "x-gateway-session-id"


def test_attribution_is_redacted_like_bodies(client, upstream, make_key):
    secret = "sk-proj-abcdefghijklmnopqrstuvwxyz0123"
    chat(client, make_key(), {"x-gateway-session-id": f"s {secret}", "x-gateway-tag-k": secret})
    call = LLMCall.objects.get()
    assert secret not in call.session_id and secret not in json.dumps(call.tags)
    assert "[REDACTED]" in call.session_id


def _manager(fake) -> LLMManager:
    provider = OpenAIProvider(
        api_key="sk-test-not-real", model="gpt-4o-mini", base_url=fake.base_url
    )
    return LLMManager([provider], fallback_models=[], mock_fallback=False, max_retries=0)


def test_the_python_api_takes_the_same_fields(fake_openai):
    request = LLMRequest(
        prompt="Hi",
        session_id="conv-1",
        trace_id=TRACE,
        parent_id=PARENT,
        step="answer",
        end_user="u-1",
        tags={"team": "ops"},
    )
    async_to_sync(_manager(fake_openai).generate_response)(request)
    call = LLMCall.objects.get()
    assert (call.session_id, call.trace_id, call.parent_id, call.step, call.end_user) == (
        "conv-1",
        TRACE,
        PARENT,
        "answer",
        "u-1",
    )
    assert call.tags == {"team": "ops"}
    assert fake_openai.chat_calls[0].headers["traceparent"].startswith(f"00-{TRACE}-")


def test_the_python_api_refuses_bad_tags_before_any_provider_call(fake_openai):
    request = LLMRequest(prompt="Hi", tags={"t": "x" * 300})
    with pytest.raises(LLMInvalidRequestError, match="Tag 't'"):
        async_to_sync(_manager(fake_openai).generate_response)(request)
    assert not fake_openai.chat_calls and not LLMCall.objects.exists()


def test_without_a_trace_nothing_is_sent_upstream(client, upstream, make_key):
    chat(client, make_key())
    call = LLMCall.objects.get()
    assert (call.trace_id, call.span_id) == ("", "")
    assert "traceparent" not in upstream.chat_calls[0].headers


def test_exports_echo_the_attribution():
    from datetime import timedelta

    from django.utils import timezone

    from costs.exports import calls_csv_lines, calls_json_chunks

    now = timezone.now()
    LLMCall.objects.create(
        created_at=now,
        session_id="conv-3",
        end_user="=cmd",
        step="plan",
        trace_id=TRACE,
        span_id=PARENT,
        tags={"team": "search"},
    )
    window = {"start": now - timedelta(minutes=1), "end": now + timedelta(minutes=1)}
    (row,) = json.loads("".join(calls_json_chunks(**window)))
    assert (row["session_id"], row["trace_id"], row["span_id"]) == ("conv-3", TRACE, PARENT)
    assert (row["step"], row["tags"]) == ("plan", {"team": "search"})
    header, line = list(calls_csv_lines(**window))
    assert "session_id" in header and "tags" in header
    assert '"{""team"": ""search""}"' in line
    assert "'=cmd" in line  # a formula in an end user id stays text
