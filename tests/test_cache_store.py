"""Response cache internals: keys, policy, what may be stored, and both stores."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils import timezone

from calls.services import CallRecord
from llm_gateway.cache import (
    CachedAnswer,
    answer_from_record,
    cache_key,
    cache_policy,
    response_cache,
)
from llm_gateway.cache_store import LocalStore, RedisStore

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}


def answer(text: str = "hello") -> CachedAnswer:
    completion = {"object": "chat.completion", "choices": [{"message": {"content": text}}]}
    return CachedAnswer(completion, "gpt-4o-mini", "openai", "openai", 3, 1, 0, "stop", "id", "t")


# --- keys ---------------------------------------------------------------------------------


def test_the_key_ignores_field_order_transport_and_bookkeeping_fields():
    reordered = {"temperature": 0.0, "messages": BODY["messages"], "model": "gpt-4o-mini"}
    noisy = {**BODY, "stream": True, "stream_options": {"include_usage": True}, "user": "u"}
    assert cache_key(reordered, scope="s") == cache_key(BODY, scope="s")
    assert cache_key({**noisy, "metadata": {"run": "7"}}, scope="s") == cache_key(BODY, scope="s")


@pytest.mark.parametrize(
    "change",
    [
        {"seed": 1},
        {"top_p": 0.5},
        {"max_tokens": 10},
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
        {"response_format": {"type": "json_object"}},
        {"model": "gpt-4o"},
        {"messages": [{"role": "user", "content": "hi!"}]},
    ],
)
def test_every_answer_changing_field_changes_the_key(change):
    assert cache_key({**BODY, **change}, scope="s") != cache_key(BODY, scope="s")


def test_different_providers_never_share_a_key():
    assert cache_key(BODY, scope="openai|a|x") != cache_key(BODY, scope="openai|b|x")


def test_the_key_is_a_hash_without_the_prompt():
    key = cache_key({**BODY, "messages": [{"role": "user", "content": "secret-plan"}]}, scope="s")
    assert len(key) == 64 and "secret" not in key


# --- policy -------------------------------------------------------------------------------


def test_only_deterministic_requests_are_cached_by_default():
    assert cache_policy(BODY, key_mode="auto").read
    assert cache_policy({**BODY, "temperature": 0.7, "seed": 3}, key_mode="auto").read
    sampled = cache_policy({**BODY, "temperature": 0.7}, key_mode="auto")
    assert not sampled.active and sampled.note_key


def test_force_overrides_a_key_set_to_never_but_use_does_not():
    assert not cache_policy(BODY, key_mode="never", asked="use").active
    assert cache_policy(BODY, key_mode="never", asked="force").read


def test_several_choices_and_logprobs_are_never_cached():
    assert not cache_policy({**BODY, "n": 2}, key_mode="always", asked="force").active
    assert not cache_policy({**BODY, "logprobs": True}, key_mode="always").active


def test_the_cache_can_be_switched_off(settings):
    settings.GATEWAY_CACHE_ENABLED = False
    assert not cache_policy(BODY, key_mode="always", asked="force").active


# --- what may be stored -----------------------------------------------------------------------


def record(**fields) -> CallRecord:
    values = {
        "id": uuid.uuid4(),
        "created_at": timezone.now(),
        "model": "gpt-4o-mini",
        "finish_reason": "stop",
        "response_body": {"content": "an answer", "finish_reason": "stop"},
    }
    values.update(fields)
    return CallRecord(**values)


def test_a_length_cut_answer_is_stored_only_when_the_request_set_the_length():
    cut = record(finish_reason="length")
    assert answer_from_record(cut, BODY) is None
    assert answer_from_record(cut, {**BODY, "max_tokens": 5}) is not None
    assert answer_from_record(cut, {**BODY, "max_completion_tokens": 5}) is not None


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "error"},
        {"fallback": "mock"},
        {"fallback": "model"},
        {"finish_reason": "content_filter"},
        {"metadata": {"validation": {"is_valid": False}}},
        {"metadata": {"usage_estimated": True}},
    ],
)
def test_failed_fallback_filtered_invalid_or_estimated_answers_are_not_stored(fields):
    assert answer_from_record(record(), BODY) is not None
    assert answer_from_record(record(**fields), BODY) is None


# --- stores -----------------------------------------------------------------------------------


def test_the_local_store_evicts_the_least_recently_used_entry():
    store = LocalStore(max_entries=2)
    put = async_to_sync(store.put)
    get = async_to_sync(store.get)
    put("a", answer("a"), ttl=60, tags=("agent:x",))
    put("b", answer("b"), ttl=60, tags=("agent:x",))
    assert get("a") is not None  # "b" is now the least recently used
    put("c", answer("c"), ttl=60, tags=("agent:y",))
    assert (get("a") is not None, get("b"), get("c") is not None) == (True, None, True)
    assert len(store) == 2


def test_an_expired_local_entry_is_gone():
    store = LocalStore(max_entries=10)
    async_to_sync(store.put)("a", answer(), ttl=0, tags=())
    assert async_to_sync(store.get)("a") is None


def test_purging_an_agent_removes_only_its_entries():
    store = LocalStore(max_entries=10)
    put = async_to_sync(store.put)
    put("a", answer(), ttl=60, tags=("agent:x", "model:m1"))
    put("b", answer(), ttl=60, tags=("agent:y", "model:m1"))
    assert async_to_sync(store.purge)("agent:x") == 1
    assert async_to_sync(store.get)("a") is None
    assert async_to_sync(store.get)("b") is not None
    assert async_to_sync(store.purge)("model:m1") == 1


def test_an_entry_over_the_size_bound_is_not_stored(settings):
    settings.GATEWAY_CACHE_MAX_ENTRY_BYTES = 100
    stored = async_to_sync(response_cache().put)(
        "k", answer("x" * 200), ttl=60, agent="a", models={"m"}
    )
    assert stored is False
    assert async_to_sync(response_cache().get)("k") is None


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (set in CI's services run)")
def test_the_redis_store_shares_entries_keeps_indexes_and_purges_them():
    import redis

    async def scenario() -> tuple:
        writer, reader = RedisStore(settings.REDIS_URL), RedisStore(settings.REDIS_URL)
        await writer.put("k1", answer("one"), ttl=60, tags=("agent:r", "model:m"))
        await writer.put("k2", answer("two"), ttl=60, tags=("agent:s", "model:m"))
        shared = await reader.get("k1")  # another "process": its own client
        purged = await reader.purge("agent:r")
        return shared, purged, await reader.get("k1"), await reader.get("k2")

    shared, purged, gone, kept = async_to_sync(scenario)()
    assert shared is not None and shared.message["content"] == "one"
    assert (purged, gone) == (1, None)
    assert kept is not None
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert client.ttl("gwc:v1:k2") > 0 and client.ttl("gwc:idx:model:m") > 0
    assert not client.exists("gwc:idx:agent:r")
    client.close()
