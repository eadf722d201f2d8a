"""Exact-match response cache: keying, policy, storage and single-flight.

Exact match only: a semantic ("similar prompt") cache can answer a different
question, and an agent cannot tell. The key is a SHA-256 of the canonical JSON
of every request field that can change the answer, plus the provider scope,
so two providers (or two base URLs) never share answers.

By default only deterministic requests are cached (temperature 0 or a seed):
serving a stored sample for a temperature-1 request would silently remove the
variety the caller asked for. Keys (``cache_mode="always"``) and requests
(``x-gateway-cache: use|force``) can opt in.

Nothing here knows about HTTP: the API view (``llm_gateway.api.cached``)
turns headers into a ``CachePolicy`` and answers into responses.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils import timezone

from calls.models import CallStatus
from common.outage import OutageLog
from llm_gateway.cache_store import CachedAnswer, LocalStore, RedisStore

logger = logging.getLogger(__name__)

# Fields that never change the answer: transport (stream), bookkeeping (user,
# metadata, store, safety_identifier) and provider-side routing hints.
EXCLUDED_FIELDS = frozenset(
    {
        "stream",
        "stream_options",
        "user",
        "metadata",
        "store",
        "safety_identifier",
        "prompt_cache_key",
        "service_tier",
    }
)
# Finish reasons whose answer is complete, so it is the answer to the request.
COMPLETE_FINISHES = frozenset({"stop", "tool_calls", "function_call"})
HEADER_VALUES = frozenset({"use", "force", "bypass", "no-store"})
# The cross-process single-flight: how long one process may hold a key's
# upstream call before the others stop waiting, and how often they look.
FLIGHT_LOCK_SECONDS = 30.0
FLIGHT_POLL_SECONDS = 0.05


def cache_key(body: dict[str, Any], *, scope: str) -> str:
    """The entry key: a hash only, so no prompt text ever appears in a key."""
    fields = {
        name: _canonical_number(value)
        for name, value in body.items()
        if name not in EXCLUDED_FIELDS and value is not None  # null means "absent"
    }
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{scope}\n{text}".encode()).hexdigest()


def _canonical_number(value: Any) -> Any:
    # temperature 0 and 0.0 are the same request; JSON would spell them apart.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


async def provider_scope(manager: Any, request: Any) -> str:
    """Who would answer: the first attempt of the manager's plan, as
    ``kind|name|base_url``. Answers are stored only when that provider is the
    one that answered (see ``scope_provider``), so a failover, a fallback or a
    routing change never files one provider's answer under another's scope."""
    for attempt in await manager.aplan(request):
        provider = attempt.provider
        return f"{provider.kind}|{provider.name}|{getattr(provider, 'base_url', '') or ''}"
    return "none"


def scope_provider(scope: str) -> str:
    """The provider name inside a ``provider_scope`` string."""
    parts = scope.split("|")
    return parts[1] if len(parts) > 2 else ""


# --- policy ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CachePolicy:
    read: bool  # may answer from the cache
    write: bool  # may store the fresh answer
    note_key: bool = False  # bypassed, but record the key in the call's metadata

    @property
    def active(self) -> bool:
        return self.read or self.write


OFF = CachePolicy(read=False, write=False)


def cache_policy(
    body: dict[str, Any], *, key_mode: str, asked: str = "", cache_control: str = ""
) -> CachePolicy:
    """What the cache may do for this request.

    ``asked`` is the request's ``x-gateway-cache``: ``use`` opts in, ``force``
    opts in even when the key says "never", ``bypass`` skips the read but
    stores the fresh answer (like ``Cache-Control: no-cache``), ``no-store``
    neither reads nor writes (like ``Cache-Control: no-store``).
    """
    asked = asked.strip().lower()
    directives = {part.strip().lower() for part in cache_control.split(",")}
    if not settings.GATEWAY_CACHE_ENABLED or asked == "no-store" or "no-store" in directives:
        return OFF
    if (key_mode == "never" and asked != "force") or not cacheable_request(body):
        return OFF
    if not (asked in ("use", "force") or key_mode == "always" or deterministic(body)):
        return CachePolicy(read=False, write=False, note_key=True)
    return CachePolicy(read=asked != "bypass" and "no-cache" not in directives, write=True)


def deterministic(body: dict[str, Any]) -> bool:
    return body.get("temperature") == 0 or body.get("seed") is not None


def cacheable_request(body: dict[str, Any]) -> bool:
    """Shapes the cache can replay faithfully, streamed or not: one choice,
    text or tool calls; not several choices, log-probabilities or audio."""
    if body.get("n") not in (None, 1) or body.get("logprobs") or body.get("audio"):
        return False
    return "audio" not in (body.get("modalities") or ())


# --- answers --------------------------------------------------------------------------------


def answer_from_record(
    record: Any, body: dict[str, Any], *, completion_of: Callable[[Any, str], Any] | None = None
) -> CachedAnswer | None:
    """The answer to store for a finished call, or None when it must not be cached:
    errors, failover/fallback answers, estimated usage, answers validated as
    invalid, and answers cut by length unless the request set the length.
    ``completion_of`` builds the stored body (default: OpenAI's chat.completion)."""
    if record.status != CallStatus.SUCCESS or record.fallback or record.cache_hit:
        return None
    if record.metadata.get("usage_estimated"):
        return None
    validation = record.metadata.get("validation")
    if validation is not None and not validation.get("is_valid"):
        return None
    finish = record.finish_reason or ""
    limited = body.get("max_tokens") is not None or body.get("max_completion_tokens") is not None
    if finish not in COMPLETE_FINISHES and not (finish == "length" and limited):
        return None
    completion = (completion_of or _completion_of)(record, finish)
    if completion is None:
        return None
    return CachedAnswer(
        completion=completion,
        model=record.model,
        provider=record.provider,
        provider_kind=record.provider_kind,
        prompt_tokens=record.prompt_tokens,
        completion_tokens=record.completion_tokens,
        cached_tokens=record.cached_tokens,
        finish_reason=finish,
        request_id=str(record.id),
        stored_at=timezone.now().isoformat(),
        validation=validation,
    )


def _completion_of(record: Any, finish: str) -> dict[str, Any] | None:
    body = record.response_body
    if isinstance(body, dict) and body.get("object") == "chat.completion":
        return body
    # A stream keeps only its text: tool calls cannot be rebuilt from it.
    if not isinstance(body, dict) or not body.get("content") or finish not in ("stop", "length"):
        return None
    return {
        "id": f"chatcmpl-{record.id.hex}",
        "object": "chat.completion",
        "created": int(record.created_at.timestamp()),
        "model": record.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": body["content"], "refusal": None},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": {
            "prompt_tokens": record.prompt_tokens,
            "completion_tokens": record.completion_tokens,
            "total_tokens": record.prompt_tokens + record.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": record.cached_tokens},
        },
    }


# --- single-flight --------------------------------------------------------------------------


class SingleFlight:
    """Concurrent identical misses in this process wait for one leader's answer.

    Per event loop, because a future belongs to the loop that made it. Across
    processes the leaders meet at a short lock in the store
    (``ResponseCache.flight_claim``): one of them calls upstream, the others
    wait for its stored answer.
    """

    def __init__(self) -> None:
        self._loops: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _flights(self) -> dict[str, asyncio.Future]:
        loop = asyncio.get_running_loop()
        flights = self._loops.get(loop)
        if flights is None:
            flights = self._loops[loop] = {}
        return flights

    def leader_of(self, key: str) -> asyncio.Future | None:
        return self._flights().get(key)

    def lead(self, key: str) -> bool:
        """Become the leader for ``key`` unless someone already is."""
        flights = self._flights()
        if key in flights:
            return False
        flights[key] = asyncio.get_running_loop().create_future()
        return True

    def land(self, key: str, answer: CachedAnswer | None) -> None:
        """Hand the leader's answer (None: nothing cacheable) to every follower."""
        future = self._flights().pop(key, None)
        if future is not None and not future.done():
            future.set_result(answer)


async def follow(future: asyncio.Future, timeout: float) -> CachedAnswer | None:
    """Wait for a leader; shielded so a follower's disconnect cannot cancel it."""
    try:
        return await asyncio.wait_for(asyncio.shield(future), timeout)
    except TimeoutError:
        return None


# --- the cache ------------------------------------------------------------------------------


class ResponseCache:
    """The store plus the byte bound and failure policy: a cache outage turns
    every request into a miss, never into an error."""

    def __init__(self, store: LocalStore | RedisStore) -> None:
        self.store = store
        self.flights = SingleFlight()
        self.outage = OutageLog(logger, "response cache unavailable: every request is a miss")

    async def get(self, key: str) -> CachedAnswer | None:
        try:
            found = await self.store.get(key)
        except Exception as error:  # noqa: BLE001 - any backend failure is a miss, logged once
            self.outage.failed(error)
            return None
        self.outage.recovered()
        return found

    async def put(
        self, key: str, answer: CachedAnswer, *, ttl: int, agent: str, models: set[str]
    ) -> bool:
        if len(answer.to_json().encode()) > settings.GATEWAY_CACHE_MAX_ENTRY_BYTES:
            return False
        tags = (f"agent:{agent}", *sorted(f"model:{m}" for m in models if m))
        try:
            await self.store.put(key, answer, ttl=ttl, tags=tags)
        except Exception as error:  # noqa: BLE001 - the answer was served; only saving is lost
            self.outage.failed(error)
            return False
        return True

    async def flight_claim(self, key: str) -> tuple[str | None, CachedAnswer | None]:
        """Across processes, one call per key: (lock token, None) when this
        process is to call upstream; (None, answer) when another process's
        call stored one meanwhile. (None, None): give up waiting and call
        anyway (the holder took too long, or the store is down)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FLIGHT_LOCK_SECONDS
        try:
            while True:
                token = await self.store.lock(key, ttl=FLIGHT_LOCK_SECONDS)
                found = await self.store.get(key)  # a holder may have stored it just before
                if token is not None:
                    if found is None:
                        return token, None
                    await self.store.unlock(key, token)
                if found is not None or loop.time() >= deadline:
                    return None, found
                await asyncio.sleep(FLIGHT_POLL_SECONDS)
        except Exception as error:  # noqa: BLE001 - each process calls for itself, as without Redis
            self.outage.failed(error)
            return None, None

    async def flight_release(self, key: str, token: str | None) -> None:
        if token is None:
            return
        try:
            await self.store.unlock(key, token)
        except Exception as error:  # noqa: BLE001 - it expires on its own
            self.outage.failed(error)

    async def purge(self, *, agent: str | None = None, model: str | None = None) -> int:
        tags = ([f"agent:{agent}"] if agent is not None else []) + (
            [f"model:{model}"] if model is not None else []
        )
        return sum([await self.store.purge(tag) for tag in tags])


_cache: ResponseCache | None = None


def response_cache() -> ResponseCache:
    global _cache
    if _cache is None:
        url = settings.REDIS_URL
        store = RedisStore(url) if url else LocalStore(settings.GATEWAY_CACHE_MAX_ENTRIES)
        _cache = ResponseCache(store)
    return _cache


def reset_response_cache() -> None:
    """Forget the store (tests, settings changes); Redis entries stay in Redis."""
    global _cache
    _cache = None


def cache_ttl(key_ttl: int | None) -> int:
    return key_ttl or settings.GATEWAY_CACHE_TTL


async def cache_purge(*, agent: str | None = None, model: str | None = None) -> int:
    """Delete every stored answer written for ``agent`` and/or serving ``model``."""
    return await response_cache().purge(agent=agent, model=model)


cache_purge_sync = async_to_sync(cache_purge)
