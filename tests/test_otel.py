"""OpenTelemetry export: every call is a GenAI span, received by a real OTLP/HTTP
receiver (tests/otlp_receiver.py) from the official SDK's exporter."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from decimal import Decimal

import anthropic
import openai
import pytest
from asgiref.sync import async_to_sync

from calls.metrics import metrics_exposition
from calls.models import LLMCall
from llm_gateway.interface import LLMRequest
from llm_gateway.manager import LLMManager
from llm_gateway.providers.openai_provider import OpenAIProvider
from llm_gateway.telemetry import telemetry_configure, telemetry_flush, telemetry_shutdown
from tests.otlp_receiver import OtlpReceiver
from tests.providers_support import claude_only, fresh_routing  # noqa: F401 - fixture

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
AGENT_SPAN = "00f067aa0ba902b7"
SPAN_KIND_CLIENT, SPAN_KIND_INTERNAL = 3, 1
STATUS_ERROR = 2


@pytest.fixture
def receiver():
    with OtlpReceiver() as running:
        yield running


def _export_to(monkeypatch, url: str, **extra: str) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "200")
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    assert telemetry_configure()


@pytest.fixture
def otel(receiver, monkeypatch):
    _export_to(monkeypatch, receiver.url, OTEL_SERVICE_NAME="gateway-under-test")
    yield receiver
    telemetry_shutdown()


def sdk(live_gateway, key: str, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=live_gateway.base_url, api_key=key, max_retries=0, default_headers=headers
    )


def _ask(client: openai.OpenAI, **options):
    return client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "What is tracing?"}],
        **options,
    )


@pytest.mark.django_db(transaction=True)
def test_a_chat_call_is_a_genai_client_span_in_the_agents_trace(
    otel, live_gateway, upstream, prices, make_key
):
    client = sdk(
        live_gateway,
        make_key("researcher"),
        traceparent=f"00-{TRACE}-{AGENT_SPAN}-01",
        **{"x-gateway-session-id": "conv-9", "x-gateway-user": "cust-1"},
        **{"x-gateway-tag-team": "search"},
    )
    raw = _ask(client, max_tokens=50, temperature=0.2, top_p=0.9)
    completion = raw.parse()
    call = LLMCall.objects.get()
    span = otel.wait_for_span(lambda s: s.attributes.get("gateway.request_id") == str(call.id))

    assert span.name == "chat gpt-4o-mini" and span.kind == SPAN_KIND_CLIENT
    assert (span.trace_id, span.parent_span_id) == (TRACE, AGENT_SPAN)
    assert (call.trace_id, call.span_id, call.parent_id) == (TRACE, span.span_id, AGENT_SPAN)
    # The provider was told the gateway's span is its parent.
    assert upstream.chat_calls[0].headers["traceparent"] == f"00-{TRACE}-{span.span_id}-01"
    a = span.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert (a["gen_ai.request.model"], a["gen_ai.response.model"]) == ("gpt-4o-mini", call.model)
    assert a["gen_ai.request.max_tokens"] == 50
    assert a["gen_ai.request.temperature"] == pytest.approx(0.2)
    assert a["gen_ai.request.top_p"] == pytest.approx(0.9)
    assert a["gen_ai.response.id"] == completion.id
    assert a["gen_ai.response.finish_reasons"] == [completion.choices[0].finish_reason]
    assert a["gen_ai.usage.input_tokens"] == completion.usage.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens
    assert a["server.address"] == "127.0.0.1"
    assert a["gateway.cost_usd"] == str(call.cost) == raw.headers["x-gateway-cost-usd"]
    assert (a["gateway.agent"], a["gateway.key_prefix"]) == ("researcher", call.key_prefix)
    assert (a["gateway.retries"], a["gateway.cache_hit"]) == (0, False)
    assert "gateway.fallback" not in a  # set only when a fallback answered
    assert (a["gateway.session_id"], a["gen_ai.conversation.id"]) == ("conv-9", "conv-9")
    assert (a["gateway.user"], a["gateway.tags.team"]) == ("cust-1", "search")
    assert "error.type" not in a and "gen_ai.input.messages" not in a
    assert span.resource["service.name"] == "gateway-under-test"
    assert span.end_ns - span.start_ns == pytest.approx(call.latency_ms * 1e6, rel=0.01)


@pytest.mark.django_db(transaction=True)
def test_a_stream_is_one_span_with_its_time_to_first_chunk(
    otel, live_gateway, upstream, prices, make_key
):
    client = sdk(live_gateway, make_key(), traceparent=f"00-{TRACE}-{AGENT_SPAN}-01")
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Stream"}], stream=True
        )
    )
    assert chunks
    span = otel.wait_for_span(lambda s: s.trace_id == TRACE)
    call = LLMCall.objects.get()
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.usage.output_tokens"] == call.completion_tokens > 0
    assert span.attributes["gen_ai.response.time_to_first_chunk"] == pytest.approx(
        call.ttft_ms / 1000
    )
    assert span.span_id == call.span_id
    assert span.attributes["gen_ai.response.id"] == chunks[0].id == call.response_body["id"]


@pytest.mark.django_db(transaction=True)
def test_a_responses_stream_span_has_the_upstreams_response_id(
    otel, live_gateway, upstream, prices, make_key
):
    client = sdk(live_gateway, make_key(), traceparent=f"00-{TRACE}-{AGENT_SPAN}-01")
    events = list(client.responses.create(model="gpt-4o-mini", input="Stream", stream=True))
    span = otel.wait_for_span(lambda s: s.trace_id == TRACE)
    call = LLMCall.objects.get()
    assert span.name == "chat gpt-4o-mini" and span.span_id == call.span_id
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.response.id"] == events[-1].response.id
    assert span.attributes["gen_ai.usage.output_tokens"] == events[-1].response.usage.output_tokens


@pytest.mark.django_db(transaction=True)
def test_a_messages_stream_span_has_anthropics_message_id(
    otel, live_gateway, fake_anthropic, monkeypatch, settings, prices, make_key
):
    claude_only(fake_anthropic, monkeypatch, settings, key="sk-ant-otel", env="OTEL_TEST_CLAUDE")
    client = anthropic.Anthropic(
        base_url=live_gateway.url,
        api_key=make_key(),
        max_retries=0,
        default_headers={"traceparent": f"00-{TRACE}-{AGENT_SPAN}-01"},
    )
    with client.messages.stream(
        model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "Hi"}]
    ) as stream:
        message = stream.get_final_message()
    span = otel.wait_for_span(lambda s: s.trace_id == TRACE)
    assert span.attributes["gen_ai.provider.name"] == "anthropic"
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.response.id"] == message.id
    assert span.attributes["gen_ai.usage.output_tokens"] == message.usage.output_tokens


@pytest.mark.django_db(transaction=True)
def test_an_embedding_is_a_span_in_the_agents_trace(otel, live_gateway, upstream, prices, make_key):
    client = sdk(live_gateway, make_key(), traceparent=f"00-{TRACE}-{AGENT_SPAN}-01")
    answer = client.embeddings.create(model="text-embedding-3-small", input="Index me")
    span = otel.wait_for_span(lambda s: s.trace_id == TRACE)
    call = LLMCall.objects.get()
    assert span.name == "embeddings text-embedding-3-small" and span.kind == SPAN_KIND_CLIENT
    assert (span.parent_span_id, span.span_id) == (AGENT_SPAN, call.span_id)
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.usage.input_tokens"] == answer.usage.prompt_tokens > 0
    assert span.attributes["gateway.cost_usd"] == str(call.cost)
    (sent,) = upstream.operation_calls("embeddings")
    assert sent.headers["traceparent"] == f"00-{TRACE}-{span.span_id}-01"


@pytest.mark.django_db(transaction=True)
def test_a_failure_has_error_type_and_each_retry_is_a_child_span(
    otel, live_gateway, upstream, settings, make_key
):
    settings.LLM_MAX_RETRIES = 1
    upstream.fail_always_with(503)
    client = sdk(live_gateway, make_key(), traceparent=f"00-{TRACE}-{AGENT_SPAN}-01")
    with pytest.raises(openai.APIStatusError):
        _ask(client)
    call = LLMCall.objects.get()
    span = otel.wait_for_span(lambda s: s.span_id == call.span_id)
    assert span.status_code == STATUS_ERROR
    assert span.attributes["error.type"] == call.error_type == "LLMProviderError"
    assert span.attributes["gateway.retries"] == 1
    deadline = time.monotonic() + 5
    while len(otel.spans_in(TRACE)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    children = [s for s in otel.spans_in(TRACE) if s.parent_span_id == span.span_id]
    assert [
        c.attributes["gateway.attempt"] for c in sorted(children, key=lambda c: c.start_ns)
    ] == [
        1,
        2,
    ]
    assert all(c.kind == SPAN_KIND_INTERNAL and c.status_code == STATUS_ERROR for c in children)
    assert all(c.attributes["error.type"] == "LLMProviderError" for c in children)


@pytest.mark.django_db(transaction=True)
def test_a_cache_hit_is_exported_too(otel, live_gateway, upstream, prices, make_key):
    client = sdk(live_gateway, make_key())
    _ask(client, temperature=0)
    raw = _ask(client, temperature=0)
    hit = LLMCall.objects.get(cache_hit=True)
    span = otel.wait_for_span(lambda s: s.attributes.get("gateway.request_id") == str(hit.id))
    assert span.attributes["gateway.cache_hit"] is True
    assert raw.headers["x-gateway-span-id"] == span.span_id == hit.span_id
    assert len(upstream.chat_calls) == 1


@pytest.mark.django_db(transaction=True)
def test_a_rate_limited_call_is_a_failed_span_in_the_agents_trace(
    otel, live_gateway, upstream, make_key
):
    client = sdk(live_gateway, make_key(rpm_limit=1), traceparent=f"00-{TRACE}-{AGENT_SPAN}-01")
    _ask(client)
    with pytest.raises(openai.RateLimitError):
        _ask(client)
    refused = LLMCall.objects.get(status="rate_limited")
    span = otel.wait_for_span(lambda s: s.attributes.get("gateway.request_id") == str(refused.id))
    assert (span.trace_id, span.parent_span_id, span.span_id) == (
        TRACE,
        AGENT_SPAN,
        refused.span_id,
    )
    assert span.status_code == STATUS_ERROR and span.attributes["error.type"] == "rate_limited"
    assert Decimal(span.attributes["gateway.cost_usd"]) == 0
    assert len(upstream.chat_calls) == 1


@pytest.mark.django_db(transaction=True)
def test_an_unsampled_caller_trace_is_not_exported(otel, live_gateway, upstream, make_key):
    client = sdk(live_gateway, make_key(), traceparent=f"00-{TRACE}-{AGENT_SPAN}-00")
    _ask(client)
    sampled = sdk(live_gateway, make_key("other"))
    _ask(sampled)
    otel.wait_for_span(lambda s: s.attributes.get("gateway.agent") == "other")
    assert otel.spans_in(TRACE) == []
    assert upstream.chat_calls[0].headers["traceparent"].endswith("-00")


@pytest.mark.django_db
def test_the_python_api_call_joins_the_given_trace_and_metrics_are_exported(
    otel, fake_openai, prices
):
    provider = OpenAIProvider(api_key="sk-test", model="gpt-4o-mini", base_url=fake_openai.base_url)
    manager = LLMManager([provider], fallback_models=[], mock_fallback=False, max_retries=0)
    request = LLMRequest(prompt="Hi", trace_id=TRACE, parent_id=AGENT_SPAN, step="draft")
    async_to_sync(manager.generate_response)(request, agent_name="writer")
    span = otel.wait_for_span(lambda s: s.trace_id == TRACE)
    assert span.parent_span_id == AGENT_SPAN and span.attributes["gateway.step"] == "draft"
    telemetry_flush()
    names = {p.metric for p in otel.points}
    assert {"gen_ai.client.token.usage", "gen_ai.client.operation.duration"} <= names
    tokens = {
        p.attributes["gen_ai.token.type"]: p.total for p in otel.points if "token" in p.metric
    }
    call = LLMCall.objects.get()
    assert tokens == {"input": call.prompt_tokens, "output": call.completion_tokens}
    (cost,) = [p for p in otel.points if p.metric == "gateway.cost"]
    assert cost.total == pytest.approx(float(call.cost)) and call.cost > 0
    assert cost.attributes == {"gen_ai.request.model": "gpt-4o-mini", "gateway.agent": "writer"}


@pytest.mark.django_db
def test_message_content_only_on_request_and_redacted(receiver, monkeypatch, fake_openai):
    _export_to(monkeypatch, receiver.url, OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="true")
    secret = "sk-proj-abcdefghijklmnopqrstuvwxyz0123"
    provider = OpenAIProvider(api_key="sk-test", model="gpt-4o-mini", base_url=fake_openai.base_url)
    manager = LLMManager([provider], fallback_models=[], mock_fallback=False, max_retries=0)
    try:
        async_to_sync(manager.generate_response)(LLMRequest(prompt=f"Remember {secret}"))
        span = receiver.wait_for_span(lambda s: "gen_ai.input.messages" in s.attributes)
    finally:
        telemetry_shutdown()
    assert "Remember [REDACTED]" in span.attributes["gen_ai.input.messages"]
    assert secret not in span.attributes["gen_ai.input.messages"]
    assert "Fake answer" in span.attributes["gen_ai.output.messages"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _exposed(outcome: str) -> float:
    text = metrics_exposition()[0].decode()
    prefix = f'llm_gateway_otel_spans_total{{outcome="{outcome}"}} '
    return next(
        (float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)), 0.0
    )


@pytest.mark.django_db(transaction=True)
def test_a_dead_collector_changes_nothing_for_the_caller(
    monkeypatch, live_gateway, upstream, make_key
):
    _export_to(monkeypatch, f"http://127.0.0.1:{_closed_port()}", OTEL_EXPORTER_OTLP_TIMEOUT="1")
    failed_before = _exposed("export_failed")
    try:
        started = time.monotonic()
        raw = _ask(sdk(live_gateway, make_key()))
        elapsed = time.monotonic() - started
        telemetry_flush()  # the export fails here, on the exporter's side
    finally:
        telemetry_shutdown()
    assert raw.http_response.status_code == 200
    assert LLMCall.objects.get().status == "success"
    assert elapsed < 1.0  # the exporter's 1 s timeout was never waited for
    assert _exposed("export_failed") > failed_before


def test_without_an_endpoint_nothing_is_exported_and_the_sdk_is_not_loaded():
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["DJANGO_SETTINGS_MODULE"] = "infra_dashboard.settings"
    script = (
        "import sys, django; django.setup();"
        "import llm_gateway.manager, llm_gateway.api.views;"
        "from llm_gateway.telemetry import telemetry_on;"
        "print(telemetry_on(), any(m.startswith('opentelemetry.sdk') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.background_records
@pytest.mark.django_db(transaction=True)
def test_with_background_records_the_span_is_built_after_the_answer(
    otel, live_gateway, upstream, make_key
):
    raw = _ask(sdk(live_gateway, make_key()))
    request_id = raw.headers["x-gateway-request-id"]
    span = otel.wait_for_span(lambda s: s.attributes.get("gateway.request_id") == request_id)
    assert span.kind == SPAN_KIND_CLIENT and span.span_id == raw.headers["x-gateway-span-id"]
