"""The Redis RPM/TPM counters: concurrent calls share round trips, counts stay exact."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from django.conf import settings

from llm_gateway.ratelimit import WINDOW, _RedisCounters

needs_redis = pytest.mark.skipif(
    not settings.REDIS_URL, reason="needs REDIS_URL (set in CI's services run)"
)


@needs_redis
def test_a_burst_of_admissions_counts_every_call_once_in_a_few_round_trips():
    counters = _RedisCounters(settings.REDIS_URL)
    key = f"test-{uuid.uuid4().hex}"

    async def burst():
        await counters.incr(f"{key}:tok", 1, 500)
        results = await asyncio.gather(
            *(counters.admit(f"{key}:req", f"{key}:tok", 1, 0) for _ in range(100))
        )
        return results, counters._round_trips().sent

    results, round_trips = asyncio.run(burst())
    assert sorted(used for used, _ in results) == list(range(1, 101))
    assert {tokens for _, tokens in results} == {500}
    assert round_trips <= 5  # 1 for the spend, then the burst in one or a few


@needs_redis
def test_counters_expire_and_a_lone_call_gets_its_own_answer():
    import redis

    counters = _RedisCounters(settings.REDIS_URL)
    key = f"test-{uuid.uuid4().hex}"
    assert asyncio.run(counters.incr(f"{key}:tok", 7, 40)) == 40
    assert asyncio.run(counters.get(f"{key}:tok", 7)) == 40
    ttl = redis.Redis.from_url(settings.REDIS_URL).ttl(f"rl:{key}:tok:7")
    assert 0 < ttl <= WINDOW * 2


def test_an_unreachable_redis_fails_every_waiting_caller_and_the_limiter_admits(caplog):
    from llm_gateway import ratelimit

    counters = _RedisCounters("redis://127.0.0.1:1/0")  # nothing listens on port 1

    async def burst():
        return await asyncio.gather(
            *(counters.admit("k:req", "k:tok", 1, 0) for _ in range(5)),
            return_exceptions=True,
        )

    outcomes = asyncio.run(burst())
    assert len(outcomes) == 5 and all(isinstance(o, Exception) for o in outcomes)

    original = ratelimit._backend
    ratelimit._backend = counters
    try:
        decision = asyncio.run(ratelimit.rate_limit_admit(key_id=1, rpm=10, tpm=1000))
    finally:
        ratelimit._backend = original
    assert decision.allowed
    assert "rate limiter unavailable" in caplog.text


@needs_redis
def test_a_cancelled_caller_does_not_disturb_the_others():
    counters = _RedisCounters(settings.REDIS_URL)
    key = f"test-{uuid.uuid4().hex}"

    async def scenario():
        first = asyncio.ensure_future(counters.incr(f"{key}:tok", 1, 5))
        second = asyncio.ensure_future(counters.incr(f"{key}:tok", 1, 5))
        await asyncio.sleep(0)  # both submitted, the round trip under way
        first.cancel()
        value = await second
        await asyncio.sleep(0.05)
        return value, await counters.get(f"{key}:tok", 1)

    value, total = asyncio.run(scenario())
    assert value in (5, 10)
    assert total == 10  # the cancelled caller's command was already sent


@needs_redis
def test_counters_work_when_redis_has_not_seen_the_counting_script(monkeypatch):
    """After a Redis restart (or SCRIPT FLUSH) EVALSHA answers NOSCRIPT: the
    batch loads the script and is sent again, counting every call once."""
    import hashlib

    from llm_gateway import ratelimit

    # A script text this Redis has never seen, so its first EVALSHA meets NOSCRIPT.
    unseen = ratelimit._COUNT_SCRIPT + f"-- {uuid.uuid4().hex}\n"
    monkeypatch.setattr(ratelimit, "_COUNT_SCRIPT", unseen)
    monkeypatch.setattr(ratelimit, "_COUNT_SHA", hashlib.sha1(unseen.encode()).hexdigest())
    counters = _RedisCounters(settings.REDIS_URL)
    key = f"test-{uuid.uuid4().hex}"

    async def calls():
        first = await asyncio.gather(
            *(counters.admit(f"{key}:req", f"{key}:tok", 3, 0) for _ in range(5))
        )
        return first, await counters.incr(f"{key}:tok", 3, 12)

    results, tokens = asyncio.run(calls())
    assert sorted(used for used, _ in results) == [1, 2, 3, 4, 5]
    assert {t for _, t in results} == {0}
    assert tokens == 12
