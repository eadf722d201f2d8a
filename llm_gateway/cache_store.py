"""Where cached answers live: an in-process LRU, or Redis shared by every process.

Both stores keep an index of entry keys per tag (``agent:<name>``,
``model:<name>``) so that purging one agent's or one model's answers touches
only those entries, never a SCAN of the whole keyspace.

The local store holds decoded ``CachedAnswer`` objects (a hit costs a dict
lookup, no JSON), bounded by entry count; the byte bound per entry is applied
by the caller before ``put``. The Redis store relies on TTLs for expiry and on
the server's ``maxmemory-policy allkeys-lru`` for the memory bound.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any

from common.redis_client import redis_from_url

ENTRY_PREFIX = "gwc:v1:"
INDEX_PREFIX = "gwc:idx:"
LOCK_PREFIX = "gwc:lock:"
# Deletes the lock only if it is still ours: after a slow call it may have
# expired and been taken by another process.
_UNLOCK = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)
_PURGE_BATCH = 500


@dataclass(frozen=True)
class CachedAnswer:
    """A stored answer: the OpenAI ``chat.completion`` body plus what a hit
    needs to be recorded and priced without asking anyone."""

    completion: dict[str, Any]
    model: str
    provider: str
    provider_kind: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    finish_reason: str
    request_id: str
    stored_at: str
    validation: dict[str, Any] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> CachedAnswer:
        return cls(**json.loads(raw))

    @property
    def message(self) -> dict[str, Any]:
        choices = self.completion.get("choices") or [{}]
        return choices[0].get("message") or {}


class LocalStore:
    """A bounded LRU in this process. Locked because admin purges run in a
    worker thread while the event loop reads."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max(1, max_entries)
        self._entries: OrderedDict[str, tuple[float, CachedAnswer, tuple[str, ...]]] = OrderedDict()
        self._index: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    async def get(self, key: str) -> CachedAnswer | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if found[0] <= time.monotonic():
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return found[1]

    async def put(self, key: str, answer: CachedAnswer, *, ttl: int, tags: tuple[str, ...]) -> None:
        with self._lock:
            self._drop(key)
            self._entries[key] = (time.monotonic() + ttl, answer, tags)
            for tag in tags:
                self._index.setdefault(tag, set()).add(key)
            while len(self._entries) > self.max_entries:
                self._drop(next(iter(self._entries)))

    async def purge(self, tag: str) -> int:
        with self._lock:
            keys = self._index.pop(tag, set())
            present = [k for k in keys if k in self._entries]
            for key in present:
                self._drop(key)
            return len(present)

    def _drop(self, key: str) -> None:
        found = self._entries.pop(key, None)
        if found is None:
            return
        for tag in found[2]:
            members = self._index.get(tag)
            if members is not None:
                members.discard(key)
                if not members:
                    del self._index[tag]

    def __len__(self) -> int:
        return len(self._entries)

    async def lock(self, key: str, *, ttl: float) -> str | None:
        """One process: the in-process single-flight already makes one call per key."""
        return "local"

    async def unlock(self, key: str, token: str) -> None:
        return None


class RedisStore:
    """Entries as JSON strings with a TTL; per-tag indexes as sorted sets scored
    by expiry time, so expired members are trimmed on each write and an index
    never outgrows its live entries."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._factory = redis_from_url
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _client(self) -> Any:  # one client per event loop: its pool is bound to the loop
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._factory(self._url, socket_timeout=0.5, socket_connect_timeout=0.5)
            self._clients[loop] = client
        return client

    async def get(self, key: str) -> CachedAnswer | None:
        raw = await self._client().get(ENTRY_PREFIX + key)
        return CachedAnswer.from_json(raw) if raw else None

    async def put(self, key: str, answer: CachedAnswer, *, ttl: int, tags: tuple[str, ...]) -> None:
        now = time.time()
        pipe = self._client().pipeline(transaction=False)
        pipe.set(ENTRY_PREFIX + key, answer.to_json(), ex=ttl)
        for tag in tags:
            name = INDEX_PREFIX + tag
            pipe.zadd(name, {key: now + ttl})
            pipe.zremrangebyscore(name, "-inf", now)
            # NX sets a TTL on a new index; GT only ever extends it to the
            # longest-lived member (a plain EXPIRE could cut a longer one short).
            pipe.expire(name, ttl, nx=True)
            pipe.expire(name, ttl, gt=True)
        await pipe.execute()

    async def purge(self, tag: str) -> int:
        client = self._client()
        name = INDEX_PREFIX + tag
        keys = [k.decode() if isinstance(k, bytes) else k for k in await client.zrange(name, 0, -1)]
        deleted = 0
        for start in range(0, len(keys), _PURGE_BATCH):
            batch = [ENTRY_PREFIX + k for k in keys[start : start + _PURGE_BATCH]]
            deleted += int(await client.delete(*batch))
        await client.delete(name)
        return deleted

    async def lock(self, key: str, *, ttl: float) -> str | None:
        """Claim the one upstream call for ``key`` across processes: a token, or
        None while another process holds it."""
        token = uuid.uuid4().hex
        claimed = await self._client().set(LOCK_PREFIX + key, token, nx=True, px=int(ttl * 1000))
        return token if claimed else None

    async def unlock(self, key: str, token: str) -> None:
        await self._client().eval(_UNLOCK, 1, LOCK_PREFIX + key, token)

    def clear_clients(self) -> None:
        self._clients = weakref.WeakKeyDictionary()
