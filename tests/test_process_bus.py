"""What processes share through Redis, in one process: the bus, circuits, token
holds and the response cache's cross-process lock; and that none of it fails a
call when Redis is down. The three-server proof is tests/test_scale_out.py."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import httpx
import pytest
from django.conf import settings

from common.cache import ProcessCache
from llm_gateway import ratelimit
from llm_gateway.cache import ResponseCache, reset_response_cache
from llm_gateway.cache_store import CachedAnswer, LocalStore, RedisStore
from llm_gateway.circuit import CircuitBreaker, breaker
from llm_gateway.process_bus import ProcessBus, channel_names
from tests.faults import wait_until

needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL")
UNREACHABLE = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def buses():
    started: list[ProcessBus] = []

    def bus(url: str = "") -> ProcessBus:
        started.append(ProcessBus(url or settings.REDIS_URL))
        return started[-1]

    yield bus
    for one in started:
        one.stop()
    breaker.reset()


# --- circuits ---------------------------------------------------------------------------------


def test_a_circuit_announces_opening_and_closing_but_not_every_success(settings):
    settings.LLM_CIRCUIT_FAILURES = 2
    circuit, heard = CircuitBreaker(), []
    circuit.on_change = lambda name, opened_at: heard.append((name, opened_at is None))
    circuit.record_success("p")
    circuit.record_failure("p")
    assert heard == []
    circuit.record_failure("p")
    assert heard == [("p", False)] and circuit.state("p") == "open"
    circuit.record_success("p")
    circuit.record_success("p")
    assert heard == [("p", False), ("p", True)] and circuit.state("p") == "closed"


def test_a_circuit_opened_elsewhere_is_open_here_until_its_cool_down_ends(settings):
    settings.LLM_CIRCUIT_COOLDOWN = 30
    circuit, now = CircuitBreaker(), time.time()
    circuit.shared_apply("p", now - 5, now)
    assert circuit.state("p") == "open"
    circuit.shared_apply("p", None, now)
    assert circuit.state("p") == "closed"
    circuit.shared_load({"old": now - 31, "recent": now - 1}, now)
    assert (circuit.state("old"), circuit.state("recent")) == ("closed", "open")


# --- the bus ----------------------------------------------------------------------------------


def test_the_channel_names_the_redis_database():
    assert channel_names("redis://h:6379/8")[0] == "gateway:bus:8"
    assert channel_names("redis://h:6379")[0] == "gateway:bus:0"


@needs_redis
def test_an_invalidation_published_by_one_process_drops_the_entry_in_another(buses):
    cache = ProcessCache(f"t-bus-{uuid.uuid4().hex[:6]}", ttl=60)
    cache.put("gw_abc", "row")
    listener, publisher = buses(), buses()
    listener.listen()
    assert listener.connected.wait(5)
    cache.put("gw_abc", "row")  # connecting dropped every cache (it may have missed edits)
    publisher.invalidation_publish(cache.name, "gw_abc")
    assert wait_until(lambda: not cache.peek("gw_abc")[0], timeout=3)


@needs_redis
def test_a_circuit_opened_in_one_process_is_open_in_the_others_and_for_late_joiners(buses):
    name = f"p-{uuid.uuid4().hex[:6]}"
    listener, publisher = buses(), buses()
    listener.listen()
    assert listener.connected.wait(5)
    publisher.circuit_publish(name, time.time())
    assert wait_until(lambda: breaker.state(name) == "open", timeout=3)
    breaker.reset()
    late = buses()
    late.listen()  # starts after the message: reads the open circuits on connecting
    assert late.connected.wait(5)
    assert breaker.state(name) == "open"
    publisher.circuit_publish(name, None)
    assert wait_until(lambda: breaker.state(name) == "closed", timeout=3)


def test_redis_down_fails_nothing_and_is_logged_once(buses, caplog):
    bus = buses(UNREACHABLE)
    caplog.set_level(logging.WARNING, logger="llm_gateway.process_bus")
    started = time.monotonic()
    for _ in range(5):
        bus.invalidation_publish("gateway_keys", "gw_abc")  # never waits for Redis
    bus.circuit_publish("p", time.time())
    assert time.monotonic() - started < 0.1
    bus.listen()
    bus.flush(timeout=5)
    time.sleep(0.5)  # the listener retried meanwhile
    warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert 1 <= len(warnings) <= 2  # one for publishing, one for listening
    assert not bus.connected.is_set()


# --- token holds ------------------------------------------------------------------------------


def _admit(tokens: int) -> ratelimit.LimitDecision:
    return asyncio.run(ratelimit.rate_limit_admit(key_id=7, rpm=None, tpm=100, tokens=tokens))


def test_tokens_are_held_at_admission_and_a_refusal_holds_none(settings):
    settings.REDIS_URL = ""
    ratelimit.reset_backend()
    try:
        assert _admit(60).allowed and _admit(60).allowed  # 0, then 60 held before: both under
        refused = _admit(60)
        assert not refused.allowed and refused.limit_name == "tokens"
        assert refused.tokens_used == 120  # what the two admitted hold; the refusal added none
    finally:
        ratelimit.reset_backend()


def test_a_finished_call_replaces_its_hold_and_an_unspent_one_is_given_back(settings):
    settings.REDIS_URL = ""
    ratelimit.reset_backend()
    window, _ = ratelimit._window(time.time())

    async def scenario() -> tuple[int, int]:
        await ratelimit.rate_limit_admit(key_id=8, rpm=None, tpm=1000, tokens=300)
        await ratelimit.rate_limit_spend_tokens(key_id=8, tpm=1000, tokens=40)
        await ratelimit.rate_limit_hold_release()  # spent already: nothing more to give back
        spent = await ratelimit.backend().get("8:tok", window)
        await ratelimit.rate_limit_admit(key_id=8, rpm=None, tpm=1000, tokens=300)
        await ratelimit.rate_limit_hold_release()  # failed upstream, say: spent nothing
        return spent, await ratelimit.backend().get("8:tok", window)

    try:
        assert asyncio.run(scenario()) == (40, 40)
    finally:
        ratelimit.reset_backend()


# --- the response cache's single flight ------------------------------------------------------


def _answer() -> CachedAnswer:
    return CachedAnswer(
        completion={"choices": [{"message": {"content": "hi"}}]},
        model="m",
        provider="p",
        provider_kind="openai",
        prompt_tokens=1,
        completion_tokens=1,
        cached_tokens=0,
        finish_reason="stop",
        request_id="r",
        stored_at="now",
    )


def test_without_redis_every_leader_claims_at_once():
    token, found = asyncio.run(ResponseCache(LocalStore(10)).flight_claim("k"))
    assert token is not None and found is None


@needs_redis
def test_a_second_process_waits_for_the_first_ones_answer_instead_of_calling():
    key = uuid.uuid4().hex
    first, second = (
        ResponseCache(RedisStore(settings.REDIS_URL)),
        ResponseCache(RedisStore(settings.REDIS_URL)),
    )

    async def scenario():
        token, _ = await first.flight_claim(key)
        waiting = asyncio.ensure_future(second.flight_claim(key))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # the lock is held: no second upstream call
        await first.put(key, _answer(), ttl=60, agent="a", models={"m"})
        await first.flight_release(key, token)
        return await waiting

    token, found = asyncio.run(scenario())
    assert token is None and found == _answer()


def test_an_unreachable_lock_lets_the_call_through():
    cache = ResponseCache(RedisStore(UNREACHABLE))
    assert asyncio.run(cache.flight_claim("k")) == (None, None)


# --- a whole call with Redis gone -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_with_redis_unreachable_a_rate_limited_cached_call_is_still_served(
    live_gateway, upstream, prices, make_key, settings
):
    settings.REDIS_URL = UNREACHABLE  # counters, cache and its lock: all in Redis, all gone
    ratelimit.reset_backend()
    reset_response_cache()
    key = make_key(rpm_limit=100, tpm_limit=100_000)
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=live_gateway.url, timeout=30) as client:
        for _ in range(2):
            response = client.post(
                "/v1/chat/completions",
                json=body | {"temperature": 0},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert response.status_code == 200, response.text
    assert len(upstream.chat_calls) == 2  # no cache to answer from, but no failure either
