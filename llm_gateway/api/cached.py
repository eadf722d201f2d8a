"""The response cache at the HTTP edge: headers in, hits and stores out.

``cache_through`` wraps the view's normal answer. It runs after admission
(auth, body, model, rate limit: a hit counts against the key's RPM like any
request) and before the manager, so a hit never reaches a provider or a
budget check. A hit is recorded through ``LLMManager.record_cache_hit``,
exactly once like every call; a miss is stored from the call's own record
once it has been written, so what is cached is exactly what was recorded.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from django.conf import settings

from llm_gateway.api.answers import SSE_HEADERS
from llm_gateway.api.calls import trace_headers
from llm_gateway.api.http import ApiRequest, ApiResponse
from llm_gateway.cache import (
    CachedAnswer,
    answer_from_record,
    cache_key,
    cache_policy,
    cache_ttl,
    follow,
    provider_scope,
    response_cache,
    scope_provider,
)
from llm_gateway.interface import LLMRequest
from llm_gateway.keys import KeyInfo
from llm_gateway.manager import CallContext, LLMManager

HEADER = "x-gateway-cache"
_REPLAY_PIECE = 512  # characters per replayed content chunk


class CacheableBody(Protocol):
    """What the cache reads of a parsed request body (chat's ``ChatBody`` and others)."""

    body: dict[str, Any]
    request: LLMRequest
    stream: bool


class CacheShape(Protocol):
    """How one protocol's answers are stored and replayed (chat, Anthropic messages)."""

    tag: str  # keeps its entries apart from other protocols' ("": chat)

    def stored(self, record: Any, body: dict[str, Any]) -> CachedAnswer | None: ...

    def replay(self, found: CachedAnswer, ctx: CallContext, *, stream: bool) -> ApiResponse: ...


class ChatShape:
    """OpenAI chat completions: stored as ``chat.completion``, replayed as one or as chunks."""

    tag = ""

    def __init__(self, wants_usage: bool) -> None:
        self.wants_usage = wants_usage

    def stored(self, record: Any, body: dict[str, Any]) -> CachedAnswer | None:
        return answer_from_record(record, body)

    def replay(self, found: CachedAnswer, ctx: CallContext, *, stream: bool) -> ApiResponse:
        completion = {**found.completion, "id": f"chatcmpl-{ctx.request_id.hex}"}
        if stream:
            events = replay_events(completion, include_usage=self.wants_usage)
            return sse_response(events)
        return ApiResponse(body=json.dumps(completion).encode())


def sse_response(events: list[str]) -> ApiResponse:
    return ApiResponse(
        headers=dict(SSE_HEADERS), content_type="text/event-stream", stream=_aiter(events)
    )


async def cache_through(
    request: ApiRequest,
    key: KeyInfo,
    chat: CacheableBody,
    ctx: CallContext,
    *,
    inline_validation: bool,
    answer: Callable[[], Awaitable[ApiResponse]],
    shape: CacheShape | None = None,
) -> ApiResponse:
    """Answer from the cache when the policy allows and an entry exists;
    otherwise call ``answer()`` and store what it produced."""
    shape = shape or ChatShape(getattr(chat, "client_wants_usage", False))
    policy = cache_policy(
        chat.body,
        key_mode=key.cache_mode,
        asked=request.headers.get(HEADER, ""),
        cache_control=request.headers.get("cache-control", ""),
    )
    if not policy.active and not policy.note_key:
        return _labelled(await answer(), "bypass")
    manager = LLMManager()
    scope = await provider_scope(manager, chat.request)
    entry_key = cache_key(chat.body, scope=f"{shape.tag}|{scope}" if shape.tag else scope)
    chat.request.metadata["cache"] = {"key": entry_key[:16]}
    if not policy.active:
        return _labelled(await answer(), "bypass")
    cache = response_cache()
    if policy.read:
        found = await _lookup(entry_key, inline_validation)
        if found is not None:
            return await _serve_hit(manager, chat, ctx, found, shape)
    leading = cache.flights.lead(entry_key)
    token = None
    if leading and policy.read:  # the other processes' leaders: one of us calls
        token, found = await cache.flight_claim(entry_key)
        if found is not None and not (inline_validation and found.validation is None):
            cache.flights.land(entry_key, found)
            return await _serve_hit(manager, chat, ctx, found, shape)
    try:
        response = await answer()
    except BaseException:
        if leading:
            cache.flights.land(entry_key, None)
        await cache.flight_release(entry_key, token)
        raise
    store = _Store(entry_key, chat, ctx, key, leading, scope_provider(scope), shape, token)
    if response.stream is not None:
        response.stream = _then_store(response.stream, store)
    else:
        await store.finish()
    return _labelled(response, "miss" if policy.read else "bypass")


async def _lookup(entry_key: str, inline_validation: bool) -> CachedAnswer | None:
    """A stored answer, or the answer of an identical request in flight here.
    An entry stored without validation cannot answer an inline-validated request."""
    cache = response_cache()
    found = await cache.get(entry_key)
    if found is None and (leader := cache.flights.leader_of(entry_key)) is not None:
        found = await follow(leader, timeout=float(settings.LLM_TIMEOUT))
    if found is not None and inline_validation and found.validation is None:
        return None
    return found


class _Store:
    """Stores a miss's answer once its record is complete, then releases followers."""

    def __init__(
        self,
        entry_key: str,
        chat: CacheableBody,
        ctx: CallContext,
        key: KeyInfo,
        leading: bool,
        provider: str,
        shape: CacheShape,
        token: str | None = None,
    ) -> None:
        self.entry_key, self.chat, self.ctx, self.key = entry_key, chat, ctx, key
        self.leading, self.provider, self.shape = leading, provider, shape
        self.token = token  # the cross-process lock, released once the answer is stored

    async def finish(self) -> None:
        cache = response_cache()
        answer = None
        try:
            record = self.ctx.record
            if record is not None and record.provider == self.provider:
                answer = self.shape.stored(record, self.chat.body)
            if answer is not None and record is not None:
                models = {self.chat.request.model or "", record.model}
                stored = await cache.put(
                    self.entry_key,
                    answer,
                    ttl=cache_ttl(self.key.cache_ttl_seconds),
                    agent=self.ctx.agent_name,
                    models=models,
                )
                answer = answer if stored else None
        finally:
            if self.leading:
                cache.flights.land(self.entry_key, answer)
            await cache.flight_release(self.entry_key, self.token)


async def _then_store(body: AsyncIterator[Any], store: _Store) -> AsyncIterator[Any]:
    """Relay the stream; store it once the manager has recorded its end."""
    try:
        async for part in body:
            yield part
    finally:
        await store.finish()


def _labelled(response: ApiResponse, state: str) -> ApiResponse:
    response.headers[HEADER] = state
    return response


# --- hits -----------------------------------------------------------------------------------


async def _serve_hit(
    manager: LLMManager,
    chat: CacheableBody,
    ctx: CallContext,
    found: CachedAnswer,
    shape: CacheShape,
) -> ApiResponse:
    record = await manager.record_cache_hit(chat.request, found, context=ctx, stream=chat.stream)
    response = shape.replay(found, ctx, stream=chat.stream)
    response.headers.update(hit_headers(ctx, record))
    if found.validation is not None:
        response.headers["x-gateway-validation"] = str(found.validation.get("quality_score"))
    return response


def hit_headers(ctx: CallContext, record: Any) -> dict[str, str]:
    """The gateway's headers on an answer served from the cache."""
    return {
        "x-gateway-request-id": str(ctx.request_id),
        "x-gateway-provider": "cache",
        "x-gateway-retries": "0",
        "x-gateway-cost-usd": str(record.cost),
        "x-gateway-saved-usd": str(record.saved_cost),
        HEADER: "hit",
        **trace_headers(record),
    }


def replay_events(completion: dict[str, Any], *, include_usage: bool) -> list[str]:
    """A stored completion as OpenAI ``chat.completion.chunk`` SSE events: the
    role (and any tool calls), the text in pieces, the finish reason, the usage
    chunk only if the client asked for it, then ``[DONE]``."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    envelope = {
        "id": completion.get("id"),
        "object": "chat.completion.chunk",
        "created": completion.get("created", int(time.time())),
        "model": completion.get("model"),
        "system_fingerprint": completion.get("system_fingerprint"),
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        body = {**envelope, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if include_usage:
            body["usage"] = None
        return f"data: {json.dumps(body)}\n\n"

    first: dict[str, Any] = {"role": "assistant", "content": "" if message.get("content") else None}
    if message.get("tool_calls"):
        first["tool_calls"] = [{"index": i, **c} for i, c in enumerate(message["tool_calls"])]
    events = [chunk(first)]
    text = message.get("content") or ""
    events += [
        chunk({"content": text[i : i + _REPLAY_PIECE]}) for i in range(0, len(text), _REPLAY_PIECE)
    ]
    events.append(chunk({}, choice.get("finish_reason")))
    if include_usage:
        usage = {**envelope, "choices": [], "usage": completion.get("usage")}
        events.append(f"data: {json.dumps(usage)}\n\n")
    events += [": x-gateway-cost-usd 0\n\n", "data: [DONE]\n\n"]
    return events


async def _aiter(events: list[str]) -> AsyncIterator[str]:
    for event in events:
        yield event
