"""``/v1/responses`` (+ GET/DELETE by id), ``/v1/completions`` and ``/v1/moderations``
through the gateway with the official SDK, against the fake upstream."""

from __future__ import annotations

from decimal import Decimal

import openai
import pytest

from calls.models import LLMCall
from llm_gateway.response_owners import response_owners_forget

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_remembered_owners():
    response_owners_forget()
    yield
    response_owners_forget()


def client_for(live_gateway, key: str, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=live_gateway.base_url, api_key=key, max_retries=0, **kwargs)


def cost_of(prompt: int, output: int, cached: int = 0) -> Decimal:
    """gpt-4o-mini: 0.15 input, 0.075 cached input, 0.60 output per 1M tokens."""
    micro = (
        (prompt - cached) * Decimal("0.15") + cached * Decimal("0.075") + output * Decimal("0.60")
    )
    return micro / 1_000_000


def test_a_response_is_forwarded_as_is_priced_and_recorded(
    live_gateway, upstream, prices, make_key
):
    upstream.responses.cached_tokens = 2
    upstream.responses.reasoning_tokens = 3
    tools = [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]
    raw = client_for(live_gateway, make_key()).responses.with_raw_response.create(
        model="gpt-4o-mini",
        input=[{"role": "user", "content": "one two three four"}],
        instructions="be brief",
        tools=tools,
        reasoning={"effort": "low"},
        store=True,
    )
    response = raw.parse()
    assert response.output_text.startswith("Fake answer")
    sent = upstream.operation_calls("responses")[-1].body
    assert (sent["tools"], sent["reasoning"], sent["store"]) == (tools, {"effort": "low"}, True)
    call = LLMCall.objects.get()
    usage = response.usage
    assert (call.operation, call.prompt_tokens, call.completion_tokens, call.cached_tokens) == (
        "responses",
        usage.input_tokens,
        usage.output_tokens,
        2,
    )
    assert call.metadata["reasoning_tokens"] == 3
    assert call.cost == cost_of(usage.input_tokens, usage.output_tokens, cached=2)
    assert raw.headers["x-gateway-cost-usd"] == str(call.cost)


def test_a_streamed_response_is_relayed_and_priced_from_the_completed_event(
    live_gateway, upstream, prices, make_key
):
    stream = client_for(live_gateway, make_key()).responses.create(
        model="gpt-4o-mini", input="stream this please", stream=True
    )
    events = list(stream)
    kinds = [event.type for event in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    usage = events[-1].response.usage
    call = LLMCall.objects.get()
    assert (call.stream, call.status, call.operation) == (True, "success", "responses")
    assert call.response_body["content"] == text
    assert (call.prompt_tokens, call.completion_tokens) == (3, usage.output_tokens)
    assert call.cost == cost_of(3, usage.output_tokens)
    assert call.ttft_ms is not None


def test_previous_response_id_and_retrieval_belong_to_the_creating_key(
    live_gateway, upstream, prices, make_key
):
    owner = client_for(live_gateway, make_key("owner"))
    first = owner.responses.create(model="gpt-4o-mini", input="remember me")
    second = owner.responses.create(
        model="gpt-4o-mini", input="and now?", previous_response_id=first.id
    )
    assert upstream.operation_calls("responses")[-1].body["previous_response_id"] == first.id
    assert owner.responses.retrieve(second.id).id == second.id
    stranger = client_for(live_gateway, make_key("stranger"))
    with pytest.raises(openai.NotFoundError):
        stranger.responses.retrieve(first.id)
    with pytest.raises(openai.NotFoundError):
        stranger.responses.delete(first.id)
    owner.responses.delete(first.id)
    assert first.id not in upstream.responses.stored
    retrievals = LLMCall.objects.filter(operation="responses", metadata__response_id=second.id)
    assert retrievals.count() == 2  # the call that made it, and the retrieval


def test_a_response_id_survives_a_restart_through_the_call_log(
    live_gateway, upstream, prices, make_key
):
    client = client_for(live_gateway, make_key())
    made = client.responses.create(model="gpt-4o-mini", input="hello")
    response_owners_forget()  # as after a restart without Redis
    assert client.responses.retrieve(made.id).id == made.id


def test_inline_validation_of_the_output_text(live_gateway, upstream, prices, make_key):
    raw = client_for(
        live_gateway, make_key(), default_headers={"x-gateway-validate": "inline"}
    ).responses.with_raw_response.create(model="gpt-4o-mini", input="validate me")
    score = float(raw.headers["x-gateway-validation"])
    assert 0 <= score <= 1
    assert LLMCall.objects.get().metadata["validation"]["quality_score"] == score


def test_legacy_completions_stream_and_not(live_gateway, upstream, prices, make_key):
    client = client_for(live_gateway, make_key())
    whole = client.completions.create(model="gpt-4o-mini", prompt="Say hi", max_tokens=50)
    assert whole.choices[0].text.strip().startswith("Fake answer")
    chunks = list(client.completions.create(model="gpt-4o-mini", prompt="Say hi", stream=True))
    assert all(chunk.usage is None for chunk in chunks)  # not asked: the usage chunk is hidden
    assert "".join(c.choices[0].text for c in chunks) == whole.choices[0].text
    sent = upstream.operation_calls("completions")[-1].body
    assert sent["stream_options"] == {"include_usage": True}  # the gateway always asks
    calls = LLMCall.objects.filter(operation="completions").order_by("created_at")
    assert [c.stream for c in calls] == [False, True]
    assert calls[1].completion_tokens == whole.usage.completion_tokens
    assert calls[1].cost == cost_of(whole.usage.prompt_tokens, whole.usage.completion_tokens)


def test_moderations_are_recorded_at_zero_cost(live_gateway, upstream, prices, make_key):
    result = client_for(live_gateway, make_key()).moderations.create(
        model="omni-moderation-latest", input=["a kind word", "an attack"]
    )
    assert [r.flagged for r in result.results] == [False, True]
    call = LLMCall.objects.get()
    assert (call.operation, call.cost, call.priced, call.status) == (
        "moderations",
        0,
        True,
        "success",
    )


def test_every_provider_down_is_a_502_and_a_row_with_that_status(
    live_gateway, upstream, prices, make_key, settings
):
    settings.LLM_MAX_RETRIES = 0
    upstream.fail_always_with(500)
    with pytest.raises(openai.InternalServerError) as caught:
        client_for(live_gateway, make_key()).responses.create(model="gpt-4o-mini", input="hi")
    assert caught.value.status_code == 502
    call = LLMCall.objects.get()
    assert (call.status, call.http_status, call.metadata["upstream_status"]) == ("error", 502, 500)


def test_the_mock_answers_every_operation_in_the_demo(live_gateway, prices, make_key, settings):
    settings.OPENAI_API_KEY = ""
    client = client_for(live_gateway, make_key())
    assert len(client.embeddings.create(model="text-embedding-3-small", input="x").data) == 1
    assert "[mock answer]" in client.responses.create(model="gpt-4o-mini", input="hi").output_text
    events = list(client.responses.create(model="gpt-4o-mini", input="hi", stream=True))
    assert events[-1].type == "response.completed"
    assert client.completions.create(model="gpt-4o-mini", prompt="hi").choices[0].text
    assert client.moderations.create(input="hi").results[0].flagged is False
    with pytest.raises(openai.NotFoundError) as caught:
        client.embeddings.create(model="no-such-embedder", input="x")
    assert caught.value.code == "model_not_found"
    assert set(LLMCall.objects.values_list("provider", flat=True)) == {"mock"}
