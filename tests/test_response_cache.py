"""The response cache through the live gateway, driven by the official SDK."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import openai
import pytest
from django.utils import timezone

from calls.models import LLMCall
from costs.models import ModelPrice
from costs.pricing import call_cost, price_for

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = [{"role": "user", "content": "What does a response cache save?"}]


def client_for(live_gateway, key: str, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=live_gateway.base_url, api_key=key, max_retries=0, **kwargs)


def ask(client: openai.OpenAI, headers: dict[str, str] | None = None, **fields):
    """One non-streamed call; returns (completion, response headers)."""
    fields.setdefault("model", "gpt-4o-mini")
    fields.setdefault("messages", QUESTION)
    raw = client.chat.completions.with_raw_response.create(extra_headers=headers, **fields)
    return raw.parse(), raw.headers


def test_identical_deterministic_requests_reach_the_provider_once(
    live_gateway, upstream, prices, make_key
):
    client = client_for(live_gateway, make_key("cached-agent"))
    first, first_headers = ask(client, temperature=0)
    second, second_headers = ask(client, temperature=0)
    assert len(upstream.chat_calls) == 1
    assert (first_headers["x-gateway-cache"], second_headers["x-gateway-cache"]) == ("miss", "hit")
    assert second.choices[0].message.content == first.choices[0].message.content
    assert second.usage.total_tokens == first.usage.total_tokens
    hit = LLMCall.objects.get(cache_hit=True)
    assert (hit.provider, hit.model, hit.cost, hit.status) == ("cache", "gpt-4o-mini", 0, "success")
    assert str(hit.id) == second_headers["x-gateway-request-id"]
    assert second_headers["x-gateway-provider"] == "cache"
    assert hit.metadata["cache"]["source_request_id"] == first_headers["x-gateway-request-id"]


def test_a_seed_makes_a_request_cacheable(live_gateway, upstream, make_key):
    client = client_for(live_gateway, make_key())
    ask(client, seed=7, temperature=0.9)
    _, headers = ask(client, seed=7, temperature=0.9)
    assert headers["x-gateway-cache"] == "hit" and len(upstream.chat_calls) == 1


def test_requests_that_differ_in_any_answer_changing_field_miss(live_gateway, upstream, make_key):
    client = client_for(live_gateway, make_key())
    ask(client, temperature=0)
    ask(client, temperature=0, messages=[{"role": "user", "content": "Something else"}])
    ask(client, temperature=0, max_tokens=5)
    ask(client, temperature=0, response_format={"type": "json_object"})
    ask(client, temperature=0, model="gpt-4o")
    assert len(upstream.chat_calls) == 5
    assert not LLMCall.objects.filter(cache_hit=True).exists()


def test_fields_that_cannot_change_the_answer_do_not_split_the_cache(
    live_gateway, upstream, make_key
):
    client = client_for(live_gateway, make_key())
    ask(client, temperature=0, user="alice", metadata={"run": "1"})
    _, headers = ask(client, temperature=0.0, user="bob")
    assert headers["x-gateway-cache"] == "hit" and len(upstream.chat_calls) == 1


def test_sampled_requests_bypass_the_cache_unless_the_request_opts_in(
    live_gateway, upstream, make_key
):
    client = client_for(live_gateway, make_key())
    _, first = ask(client)
    _, second = ask(client)
    assert (first["x-gateway-cache"], second["x-gateway-cache"]) == ("bypass", "bypass")
    ask(client, headers={"x-gateway-cache": "use"})
    _, opted = ask(client, headers={"x-gateway-cache": "use"})
    assert opted["x-gateway-cache"] == "hit"
    assert len(upstream.chat_calls) == 3


def test_a_key_with_cache_mode_always_caches_sampled_requests(live_gateway, upstream, make_key):
    client = client_for(live_gateway, make_key(cache_mode="always"))
    ask(client)
    _, headers = ask(client)
    assert headers["x-gateway-cache"] == "hit" and len(upstream.chat_calls) == 1


def test_a_key_with_cache_mode_never_always_asks_the_provider(live_gateway, upstream, make_key):
    client = client_for(live_gateway, make_key(cache_mode="never"))
    ask(client, temperature=0)
    _, headers = ask(client, temperature=0)
    assert headers["x-gateway-cache"] == "bypass" and len(upstream.chat_calls) == 2


@pytest.mark.parametrize(
    "headers",
    [{"Cache-Control": "no-store"}, {"x-gateway-cache": "no-store"}],
    ids=["cache-control", "x-gateway-cache"],
)
def test_no_store_neither_reads_nor_writes(live_gateway, upstream, make_key, headers):
    client = client_for(live_gateway, make_key())
    _, stored = ask(client, headers=headers, temperature=0)
    _, fresh = ask(client, temperature=0)  # nothing was stored: a miss
    _, skipped = ask(client, headers=headers, temperature=0)  # an entry exists: not read
    assert (stored["x-gateway-cache"], fresh["x-gateway-cache"]) == ("bypass", "miss")
    assert skipped["x-gateway-cache"] == "bypass"
    assert len(upstream.chat_calls) == 3


@pytest.mark.parametrize(
    "headers",
    [{"Cache-Control": "no-cache"}, {"x-gateway-cache": "bypass"}],
    ids=["cache-control", "x-gateway-cache"],
)
def test_no_cache_skips_the_read_but_stores_the_fresh_answer(
    live_gateway, upstream, make_key, headers
):
    client = client_for(live_gateway, make_key())
    ask(client, temperature=0)
    upstream.reply = "A fresher answer."
    refreshed, skipped = ask(client, headers=headers, temperature=0)
    later, hit = ask(client, temperature=0)
    assert (skipped["x-gateway-cache"], hit["x-gateway-cache"]) == ("bypass", "hit")
    assert later.choices[0].message.content == refreshed.choices[0].message.content
    assert later.choices[0].message.content == "A fresher answer."
    assert len(upstream.chat_calls) == 2


def test_a_streamed_hit_replays_the_same_text_and_usage(live_gateway, upstream, make_key):
    client = client_for(live_gateway, make_key())

    def stream_once() -> tuple[str, object]:
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=QUESTION,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        usages = [c.usage for c in chunks if c.usage]
        assert len(usages) == 1
        return text, usages[0]

    first_text, first_usage = stream_once()
    second_text, second_usage = stream_once()
    assert second_text == first_text and first_text.startswith("Fake answer to:")
    counts = ("prompt_tokens", "completion_tokens", "total_tokens")
    assert [getattr(second_usage, n) for n in counts] == [getattr(first_usage, n) for n in counts]
    assert len(upstream.chat_calls) == 1
    hit = LLMCall.objects.get(cache_hit=True)
    assert hit.stream and hit.completion_tokens == first_usage.completion_tokens


def test_a_stored_answer_is_replayed_as_a_stream_without_usage_unless_asked(
    live_gateway, upstream, make_key
):
    client = client_for(live_gateway, make_key())
    completion, _ = ask(client, temperature=0)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=QUESTION, temperature=0, stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        completion.choices[0].message.content
    )
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert len(upstream.chat_calls) == 1


def test_a_cached_tool_call_is_replayed_streamed_and_not(live_gateway, upstream, make_key):
    upstream.tool_call = {"name": "lookup", "arguments": {"city": "Berlin"}}
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    client = client_for(live_gateway, make_key())
    ask(client, temperature=0, tools=tools)
    second, headers = ask(client, temperature=0, tools=tools)
    assert headers["x-gateway-cache"] == "hit"
    assert second.choices[0].message.tool_calls[0].function.arguments == '{"city": "Berlin"}'
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=QUESTION, temperature=0, tools=tools, stream=True
    )
    calls = [c.choices[0].delta.tool_calls for c in stream if c.choices and c.choices[0].delta]
    replayed = [call for group in calls if group for call in group]
    assert replayed[0].function.name == "lookup"
    assert "".join(c.function.arguments or "" for c in replayed) == '{"city": "Berlin"}'
    assert len(upstream.chat_calls) == 1


def test_concurrent_identical_misses_call_the_provider_once(live_gateway, upstream, make_key):
    upstream.latency = 0.5  # the leader is still waiting when the others arrive
    client = client_for(live_gateway, make_key())
    answers: list[str] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            completion, _ = ask(client, temperature=0)
            answers.append(completion.choices[0].message.content)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(answers)) == 1 and len(answers) == 8
    assert len(upstream.chat_calls) == 1
    assert LLMCall.objects.filter(cache_hit=True).count() == 7
    assert LLMCall.objects.count() == 8


def test_saved_cost_is_the_price_in_force_now_times_the_stored_tokens(
    live_gateway, upstream, prices, make_key
):
    client = client_for(live_gateway, make_key())
    first, _ = ask(client, temperature=0)
    old = price_for("gpt-4o-mini", provider="openai")
    ModelPrice.objects.create(
        provider="openai",
        model=old.model,
        input_per_m=old.input_per_m * 2,
        output_per_m=old.output_per_m * 3,
        cached_input_per_m=old.cached_input_per_m,
        effective_from=timezone.now() - timedelta(seconds=1),
    )
    ask(client, temperature=0)
    miss, hit = LLMCall.objects.get(cache_hit=False), LLMCall.objects.get(cache_hit=True)
    usage = {
        "prompt_tokens": first.usage.prompt_tokens,
        "completion_tokens": first.usage.completion_tokens,
    }
    assert miss.cost == call_cost(old, **usage)
    assert hit.saved_cost == call_cost(price_for("gpt-4o-mini", provider="openai"), **usage)
    assert hit.saved_cost == (
        Decimal(usage["prompt_tokens"]) * old.input_per_m * 2
        + Decimal(usage["completion_tokens"]) * old.output_per_m * 3
    ) / Decimal(1_000_000)
    assert hit.cost == 0 and hit.saved_cost > miss.cost


def test_hits_count_against_the_keys_requests_per_minute(live_gateway, upstream, make_key):
    if time.time() % 60 > 50:  # limits count per fixed minute: start well inside one
        time.sleep(61 - time.time() % 60)
    client = client_for(live_gateway, make_key(rpm_limit=3))
    for _ in range(3):
        ask(client, temperature=0)
    with pytest.raises(openai.RateLimitError):
        ask(client, temperature=0)
    assert len(upstream.chat_calls) == 1


def test_hits_are_not_charged_to_budgets_and_are_served_when_one_is_spent(
    live_gateway, upstream, prices, make_key
):
    from costs.budgets import budget_create
    from costs.selectors import budget_spend

    client = client_for(live_gateway, make_key("thrifty"))
    ask(client, temperature=0)
    budget = budget_create(
        name="Thrifty", scope="agent", scope_value="thrifty", amount="0.0001", action="block"
    )
    LLMCall.objects.create(agent_name="thrifty", model="gpt-4o-mini", cost=Decimal("0.01"))
    spent = budget_spend(budget=budget).spend
    _, headers = ask(client, temperature=0)  # the budget is spent, but a hit costs nothing
    assert headers["x-gateway-cache"] == "hit"
    with pytest.raises(openai.RateLimitError) as refused:  # a miss is refused
        ask(client, temperature=0, messages=[{"role": "user", "content": "new question"}])
    assert refused.value.code == "budget_exceeded"
    assert budget_spend(budget=budget).spend == spent
    assert len(upstream.chat_calls) == 1


def test_errors_are_not_cached(live_gateway, upstream, make_key):
    client = client_for(live_gateway, make_key())
    upstream.fail_next(1, 400, message="Bad request from the fake.")
    with pytest.raises(openai.BadRequestError):
        ask(client, temperature=0)
    _, headers = ask(client, temperature=0)
    assert headers["x-gateway-cache"] == "miss" and len(upstream.chat_calls) == 2


def test_answers_validated_as_invalid_are_not_cached(live_gateway, upstream, make_key):
    upstream.reply = "this is not json at all"
    client = client_for(live_gateway, make_key(), default_headers={"x-gateway-validate": "inline"})
    fields = {"temperature": 0, "response_format": {"type": "json_object"}}
    ask(client, **fields)
    _, headers = ask(client, **fields)
    assert headers["x-gateway-cache"] == "miss" and len(upstream.chat_calls) == 2


def test_a_valid_inline_validated_answer_is_replayed_with_its_score(
    live_gateway, upstream, make_key
):
    client = client_for(live_gateway, make_key(), default_headers={"x-gateway-validate": "inline"})
    _, first = ask(client, temperature=0)
    _, second = ask(client, temperature=0)
    assert second["x-gateway-cache"] == "hit"
    assert second["x-gateway-validation"] == first["x-gateway-validation"]


def test_answers_over_the_size_bound_are_not_cached(live_gateway, upstream, make_key, settings):
    settings.GATEWAY_CACHE_MAX_ENTRY_BYTES = 200
    client = client_for(live_gateway, make_key())
    ask(client, temperature=0)
    _, headers = ask(client, temperature=0)
    assert headers["x-gateway-cache"] == "miss" and len(upstream.chat_calls) == 2


def test_an_answer_cut_by_the_requested_max_tokens_is_cached(live_gateway, upstream, make_key):
    client = client_for(live_gateway, make_key())
    first, _ = ask(client, temperature=0, max_tokens=3)
    second, headers = ask(client, temperature=0, max_tokens=3)
    assert first.choices[0].finish_reason == "length"
    assert headers["x-gateway-cache"] == "hit"
    assert second.choices[0].message.content == first.choices[0].message.content
