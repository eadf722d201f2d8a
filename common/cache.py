"""The per-process cache every hot-path lookup uses (keys, providers, budgets, rules…).

Each request would otherwise query the same few rows; these change rarely and
are fine a few seconds stale, so each process keeps them for a TTL. Writes in
this process invalidate at once (a post_save receiver, say); other processes
hear of it through the seam below (with Redis: at once), or see the change
when their TTL runs out.

A load that started before an invalidation never stores its result: it may
have read the rows the invalidation was about (the generation check below).

Cross-process invalidation plugs in at one seam: ``invalidation_publisher_set``
receives every local ``invalidate`` (to broadcast it), and the subscriber on
the other side calls ``cache_named(name).invalidate(key, publish=False)``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")

ALL: Any = object()  # invalidate every key
Publisher = Callable[[str, Any], None]


class _Seam:
    publish: Publisher | None = None


def invalidation_publisher_set(publisher: Publisher | None) -> None:
    """Called with (cache name, key or ALL) after each local invalidation."""
    _Seam.publish = publisher


_registry: dict[str, ProcessCache] = {}


def cache_named(name: str) -> ProcessCache:
    return _registry[name]


def process_caches() -> list[ProcessCache]:
    """Every cache of this process (to drop them all after missed invalidations)."""
    return list(_registry.values())


class ProcessCache(Generic[V]):
    """Values by key, each fresh for ``ttl`` seconds (a number, or a callable
    read at each lookup so settings overrides apply)."""

    def __init__(self, name: str, *, ttl: float | Callable[[], float]) -> None:
        self.name = name
        self._ttl = ttl
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._generation = 0
        self._lock = threading.Lock()
        _registry[name] = self

    def ttl(self) -> float:
        return float(self._ttl() if callable(self._ttl) else self._ttl)

    def peek(self, key: Hashable = None) -> tuple[bool, V | None]:
        """(True, value) when a fresh value is cached; never loads."""
        hit = self._entries.get(key)
        if hit is None or time.monotonic() - hit[0] >= self.ttl():
            return False, None
        return True, hit[1]

    def stale(self, key: Hashable = None, default: V | None = None) -> V | None:
        """The last value stored for ``key`` however old (for callers that must not load)."""
        hit = self._entries.get(key)
        return default if hit is None else hit[1]

    def get(self, key: Hashable, load: Callable[[], V]) -> V:
        fresh, value = self.peek(key)
        if fresh:
            return value  # type: ignore[return-value]
        generation = self._generation
        value = load()
        self._store(key, value, generation)
        return value

    async def aget(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> V:
        fresh, value = self.peek(key)
        if fresh:
            return value  # type: ignore[return-value]
        generation = self._generation
        value = await load()
        self._store(key, value, generation)
        return value

    def put(self, key: Hashable, value: V) -> None:
        self._store(key, value, self._generation)

    def _store(self, key: Hashable, value: V, generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                self._entries[key] = (time.monotonic(), value)

    def invalidate(self, key: Any = ALL, *, publish: bool = True) -> None:
        """Drop ``key`` (or every key) now; loads already under way are not stored."""
        with self._lock:
            self._generation += 1
            if key is ALL:
                self._entries.clear()
            else:
                self._entries.pop(key, None)
        if publish and _Seam.publish is not None:
            _Seam.publish(self.name, key)

    def clear(self) -> None:
        self.invalidate(ALL)
