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
from typing import Any

from django.conf import settings

from llm_gateway.api.http import ApiRequest, ApiResponse
from llm_gateway.api.parsing import ChatBody
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
from llm_gateway.keys import KeyInfo
from llm_gateway.manager import CallContext, LLMManager

HEADER = "x-gateway-cache"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_REPLAY_PIECE = 512  # characters per replayed content chunk


async def cache_through(
    request: ApiRequest,
    key: KeyInfo,
    chat: ChatBody,
    ctx: CallContext,
    *,
    inline_validation: bool,
    answer: Callable[[], Awaitable[ApiResponse]],
) -> ApiResponse:
    """Answer from the cache when the policy allows and an entry exists;
    otherwise call ``answer()`` and store what it produced."""
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
    entry_key = cache_key(chat.body, scope=scope)
    chat.request.metadata["cache"] = {"key": entry_key[:16]}
    if not policy.active:
        return _labelled(await answer(), "bypass")
    cache = response_cache()
    if policy.read:
        found = await _lookup(entry_key, inline_validation)
        if found is not None:
            return await _serve_hit(manager, chat, ctx, found)
    leading = cache.flights.lead(entry_key)
    try:
        response = await answer()
    except BaseException:
        if leading:
            cache.flights.land(entry_key, None)
        raise
    store = _Store(entry_key, chat, ctx, key, leading, provider=scope_provider(scope))
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
        chat: ChatBody,
        ctx: CallContext,
        key: KeyInfo,
        leading: bool,
        *,
        provider: str,
    ) -> None:
        self.entry_key, self.chat, self.ctx, self.key = entry_key, chat, ctx, key
        self.leading, self.provider = leading, provider

    async def finish(self) -> None:
        cache = response_cache()
        answer = None
        try:
            record = self.ctx.record
            if record is not None and record.provider == self.provider:
                answer = answer_from_record(record, self.chat.body)
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
    manager: LLMManager, chat: ChatBody, ctx: CallContext, found: CachedAnswer
) -> ApiResponse:
    record = await manager.record_cache_hit(chat.request, found, context=ctx, stream=chat.stream)
    completion = {**found.completion, "id": f"chatcmpl-{ctx.request_id.hex}"}
    headers = {
        "x-gateway-request-id": str(ctx.request_id),
        "x-gateway-provider": "cache",
        "x-gateway-retries": "0",
        "x-gateway-cost-usd": str(record.cost),
        "x-gateway-saved-usd": str(record.saved_cost),
        HEADER: "hit",
    }
    if found.validation is not None:
        headers["x-gateway-validation"] = str(found.validation.get("quality_score"))
    if record.trace_id:  # as for any call (api.views): the next step may name it as parent
        headers["x-gateway-trace-id"] = record.trace_id
        headers["x-gateway-span-id"] = record.span_id
    if chat.stream:
        events = replay_events(completion, include_usage=chat.client_wants_usage)
        headers.update(SSE_HEADERS)
        return ApiResponse(headers=headers, content_type="text/event-stream", stream=_aiter(events))
    return ApiResponse(body=json.dumps(completion).encode(), headers=headers)


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
