"""The per-process cache every hot-path lookup shares (common.cache)."""

from __future__ import annotations

import asyncio

from common import cache
from common.cache import ALL, ProcessCache, cache_named, invalidation_publisher_set


def counting_loader(values):
    calls = []

    def load():
        calls.append(1)
        return values[len(calls) - 1]

    return load, calls


def test_a_fresh_value_is_served_without_loading_again():
    store = ProcessCache("t-fresh", ttl=60)
    load, calls = counting_loader(["a", "b"])
    assert store.get("k", load) == "a"
    assert store.get("k", load) == "a"
    assert len(calls) == 1


def test_an_expired_value_is_loaded_again(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: clock[0])
    store = ProcessCache("t-expiry", ttl=5)
    load, calls = counting_loader(["old", "new"])
    assert store.get("k", load) == "old"
    clock[0] += 4.9
    assert store.get("k", load) == "old"
    clock[0] += 0.2
    assert store.get("k", load) == "new"
    assert len(calls) == 2


def test_invalidating_one_key_keeps_the_others():
    store = ProcessCache("t-one-key", ttl=60)
    store.put("a", 1)
    store.put("b", 2)
    store.invalidate("a")
    assert store.peek("a") == (False, None)
    assert store.peek("b") == (True, 2)


def test_a_load_that_raced_an_invalidation_is_not_kept():
    store = ProcessCache("t-race", ttl=60)

    def load_while_a_save_lands():
        store.invalidate()  # a post_save receiver, while the query was running
        return "read before the save"

    assert store.get("k", load_while_a_save_lands) == "read before the save"
    assert store.peek("k") == (False, None)


def test_async_loads_share_the_cache():
    store = ProcessCache("t-async", ttl=60)
    calls = []

    async def load():
        calls.append(1)
        return len(calls)

    async def twice():
        return await store.aget("k", load), await store.aget("k", load)

    assert asyncio.run(twice()) == (1, 1)


def test_every_local_invalidation_reaches_the_cross_process_seam():
    store = ProcessCache("t-seam", ttl=60)
    published = []
    invalidation_publisher_set(lambda name, key: published.append((name, key)))
    try:
        store.invalidate("k")
        store.clear()
        cache_named("t-seam").invalidate("k", publish=False)  # as a subscriber would
    finally:
        invalidation_publisher_set(None)
    assert published == [("t-seam", "k"), ("t-seam", ALL)]
