"""The response cache for embeddings: the same input always maps to the same vector.

An embedding is deterministic, so identical requests are answered from the
cache under the key's policy (``never`` keys and ``no-store`` requests opt
out), exactly like a temperature-0 chat request: a hit is recorded once at $0
with what it saved, and never reaches a provider or a budget. The call log
keeps the answer's summary, never the vectors.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import replace

from django.utils import timezone

from calls.models import CallStatus
from llm_gateway.api.cached import HEADER, _labelled, _lookup, hit_headers
from llm_gateway.api.http import ApiRequest, ApiResponse
from llm_gateway.api.parsing_operations import OperationBody
from llm_gateway.cache import (
    CachedAnswer,
    cache_key,
    cache_policy,
    cache_ttl,
    provider_scope,
    response_cache,
    scope_provider,
)
from llm_gateway.interface import LLMRequest
from llm_gateway.keys import KeyInfo
from llm_gateway.manager import CallContext
from llm_gateway.operation_call import OperationManager, stored_answer
from llm_gateway.operations import EMBEDDINGS, SPECS


async def embeddings_cache_through(
    request: ApiRequest,
    key: KeyInfo,
    parsed: OperationBody,
    llm_request: LLMRequest,
    ctx: CallContext,
    *,
    answer: Callable[[], Awaitable[ApiResponse]],
) -> ApiResponse:
    policy = cache_policy(
        {**parsed.body, "temperature": 0},  # deterministic by nature
        key_mode=key.cache_mode,
        asked=request.headers.get(HEADER, ""),
        cache_control=request.headers.get("cache-control", ""),
    )
    if not policy.active:
        return _labelled(await answer(), "bypass")
    spec = SPECS[EMBEDDINGS]
    manager = OperationManager(spec)
    scope = await provider_scope(manager, llm_request)
    entry_key = cache_key({**parsed.body, "operation": EMBEDDINGS}, scope=scope)
    cache = response_cache()
    if policy.read:
        found = await _lookup(entry_key, inline_validation=False)
        if found is not None:
            return await _serve_hit(manager, llm_request, ctx, found)
    leading = cache.flights.lead(entry_key)
    stored = None
    try:
        response = await answer()
        stored = await _store(entry_key, response, ctx, key, scope_provider(scope))
    finally:
        if leading:
            cache.flights.land(entry_key, stored)
    return _labelled(response, "miss" if policy.read else "bypass")


async def _store(
    entry_key: str, response: ApiResponse, ctx: CallContext, key: KeyInfo, provider: str
) -> CachedAnswer | None:
    """Store a fresh answer of the provider the scope names (never a failover's)."""
    record = ctx.record
    if (
        response.status != 200
        or record is None
        or record.status != CallStatus.SUCCESS
        or record.fallback
        or record.provider != provider
    ):
        return None
    answer = CachedAnswer(
        completion=json.loads(response.body),
        model=record.model,
        provider=record.provider,
        provider_kind=record.provider_kind,
        prompt_tokens=record.prompt_tokens,
        completion_tokens=0,
        cached_tokens=0,
        finish_reason="stop",
        request_id=str(record.id),
        stored_at=timezone.now().isoformat(),
    )
    stored = await response_cache().put(
        entry_key,
        answer,
        ttl=cache_ttl(key.cache_ttl_seconds),
        agent=ctx.agent_name,
        models={record.requested_model, record.model},
    )
    return answer if stored else None


async def _serve_hit(
    manager: OperationManager, llm_request: LLMRequest, ctx: CallContext, found: CachedAnswer
) -> ApiResponse:
    summary = replace(found, completion=stored_answer(manager.spec, found.completion))
    record = await manager.record_cache_hit(llm_request, summary, context=ctx, stream=False)
    return ApiResponse(body=json.dumps(found.completion).encode(), headers=hit_headers(ctx, record))
