"""OpenAI-compatible endpoints: ``/v1/chat/completions``, ``/v1/models`` and usage.

Every path ends in an OpenAI-shaped JSON answer: gateway refusals as
``APIError``, provider failures as ``LLMError``; nothing reaches Django's HTML
error pages. The call itself goes through ``LLMManager`` like the Python API.
Handlers are protocol-neutral (``api.http``); the Django views at the bottom
only adapt them, and the ASGI router serves the same handlers directly.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.db import DatabaseError, close_old_connections
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from llm_gateway.api import usage as usage_selectors
from llm_gateway.api.auth import (
    agent_name_check,
    api_key_authenticate,
    model_allowed_check,
    rate_limit_check,
    request_body_check,
)
from llm_gateway.api.cached import cache_through
from llm_gateway.api.errors import (
    APIError,
    error_api_response,
    llm_error_api_response,
    llm_error_payload,
)
from llm_gateway.api.http import (
    ApiRequest,
    ApiResponse,
    arrived_together,
    from_django,
    json_response,
    to_django,
)
from llm_gateway.api.parsing import ChatBody, parse_chat_body
from llm_gateway.interface import LLMError, StreamChunk
from llm_gateway.keys import KeyInfo
from llm_gateway.manager import CallContext, LLMManager
from llm_gateway.ratelimit import rate_limit_spend_tokens
from llm_gateway.validation_dispatch import validation_enqueue, validation_mode

logger = logging.getLogger(__name__)
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _context(request: ApiRequest, key: KeyInfo, chat: ChatBody, agent: str) -> CallContext:
    return CallContext(
        agent_name=agent,
        gateway_key_id=key.id,
        key_prefix=key.prefix,
        key_agent_name=key.agent_name,
        source="api",
        request_body=chat.body,
        defer_record=request.background_writes,
    )


async def _admit(request: ApiRequest) -> tuple[KeyInfo, ChatBody, str]:
    key = await api_key_authenticate(request.headers)
    chat = parse_chat_body(request_body_check(request))
    model_allowed_check(key, chat.request.model or "")
    agent = agent_name_check(key, request.headers)  # refused before it counts against limits
    await rate_limit_check(key)
    return key, chat, agent


def _gateway_headers(ctx: CallContext) -> dict[str, str]:
    record = ctx.record
    headers = {"x-gateway-request-id": str(ctx.request_id)}
    if record is not None:
        headers["x-gateway-provider"] = record.provider
        headers["x-gateway-retries"] = str(record.retries)
    return headers


async def _database_unavailable() -> ApiResponse:
    """The call log is unreachable: refuse rather than serve calls we cannot record."""
    logger.error("database unavailable on the API path", exc_info=True)
    await sync_to_async(close_old_connections)()  # drop the broken connection
    return error_api_response(
        503,
        "The gateway cannot reach its database; retry shortly.",
        type="api_error",
        code="database_unavailable",
    )


async def chat_completions_handler(request: ApiRequest) -> ApiResponse:
    if request.method != "POST":
        return error_api_response(
            405, "Use POST for /v1/chat/completions.", code="method_not_allowed"
        )
    try:
        return await _chat_completions(request)
    except APIError as refusal:
        return refusal.api_response()
    except DatabaseError:
        return await _database_unavailable()


async def _chat_completions(request: ApiRequest) -> ApiResponse:
    key, chat, agent = await _admit(request)
    ctx = _context(request, key, chat, agent)
    mode = validation_mode(request.headers, key)
    return await cache_through(
        request,
        key,
        chat,
        ctx,
        inline_validation=mode == "inline",
        answer=lambda: _answer(chat, ctx, key, mode),
    )


async def _answer(chat: ChatBody, ctx: CallContext, key: KeyInfo, mode: str) -> ApiResponse:
    """The answer from the providers (the response cache calls this on a miss)."""
    if chat.stream:
        return await _stream(chat, ctx, key)
    try:
        response = await LLMManager().generate_response(
            chat.request, validate_response=mode == "inline", context=ctx
        )
    except LLMError as error:
        return llm_error_api_response(error, _gateway_headers(ctx))
    await rate_limit_spend_tokens(
        key_id=key.id, tpm=key.tpm_limit, tokens=response.token_usage.total_tokens
    )
    if mode == "async":
        validation_enqueue(ctx=ctx, content=response.content, finish_reason=response.finish_reason)
    headers = _gateway_headers(ctx)
    headers["x-gateway-cost-usd"] = str(response.token_usage.estimated_cost)
    if mode == "inline":
        headers["x-gateway-validation"] = str(response.metadata["validation"]["quality_score"])
    return ApiResponse(body=json.dumps(response.raw).encode(), headers=headers)


async def _stream(chat: ChatBody, ctx: CallContext, key: KeyInfo) -> ApiResponse:
    """Open the stream before answering, so failures before the first chunk get a
    proper status code and headers can name the provider that answered."""
    chunks = LLMManager().stream_response(chat.request, context=ctx).__aiter__()
    try:
        first = await chunks.__anext__()
    except LLMError as error:
        return llm_error_api_response(error, _gateway_headers(ctx))
    return ApiResponse(
        headers={**SSE_HEADERS, **_gateway_headers(ctx)},
        content_type="text/event-stream",
        stream=_sse(first, chunks, chat.client_wants_usage, ctx, key),
    )


def _encode(chunk: StreamChunk) -> str:
    return f"data: {chunk.raw_json or json.dumps(chunk.raw)}\n\n"


def _hidden(chunk: StreamChunk, wants_usage: bool) -> bool:
    """The gateway always asks for usage; the agent sees that chunk only if it asked."""
    usage_only = (
        chunk.usage is not None and not chunk.delta and not (chunk.raw or {}).get("choices")
    )
    return usage_only and not wants_usage


async def _sse(
    first: StreamChunk,
    rest: AsyncIterator[StreamChunk],
    wants_usage: bool,
    ctx: CallContext,
    key: KeyInfo,
) -> AsyncIterator[str]:
    pending: list[str] = []  # chunks that arrived together leave in one write
    batches = arrived_together(first, rest)
    try:
        async for batch in batches:
            pending.extend(_encode(chunk) for chunk in batch if not _hidden(chunk, wants_usage))
            if pending:
                yield "".join(pending)
                pending.clear()
    except LLMError as error:
        _, payload, _ = llm_error_payload(error)
        yield f"data: {json.dumps(payload)}\n\n"
        return
    finally:
        await batches.aclose()  # stops its reader before ``rest`` is closed
        await rest.aclose()  # records client_disconnected if we stopped early
    record = ctx.record
    if record is not None:
        pending.append(f": x-gateway-cost-usd {record.cost}\n\n")
        tokens = record.prompt_tokens + record.completion_tokens
        await rate_limit_spend_tokens(key_id=key.id, tpm=key.tpm_limit, tokens=tokens)
    pending.append("data: [DONE]\n\n")
    yield "".join(pending)


_models_cache: dict[str, tuple[float, list[dict]]] = {}


async def models_handler(request: ApiRequest) -> ApiResponse:
    try:
        await api_key_authenticate(request.headers)
    except APIError as refusal:
        return refusal.api_response()
    cached = _models_cache.get("all")
    if cached is None or time.monotonic() - cached[0] > 60:
        data = await usage_selectors.model_list()
        _models_cache["all"] = cached = (time.monotonic(), data)
    return json_response({"object": "list", "data": cached[1]})


async def usage_handler(request: ApiRequest) -> ApiResponse:
    try:
        key = await api_key_authenticate(request.headers)
    except APIError as refusal:
        return refusal.api_response()
    period = request.query.get("period", "daily")
    if period not in usage_selectors.PERIODS:
        return error_api_response(
            400, "period must be one of daily, weekly, monthly.", param="period"
        )
    return json_response(await usage_selectors.key_usage(key_id=key.id, period=period))


async def budgets_handler(request: ApiRequest) -> ApiResponse:
    try:
        key = await api_key_authenticate(request.headers)
    except APIError as refusal:
        return refusal.api_response()
    data = await usage_selectors.key_budgets(agent_name=key.agent_name, key_prefix=key.prefix)
    return json_response({"object": "list", "data": data})


# Served straight from the ASGI router (infra_dashboard.asgi), skipping Django's cycle.
FAST_ROUTES = {
    "/v1/chat/completions": chat_completions_handler,
    "/v1/models": models_handler,
    "/api/v1/usage": usage_handler,
    "/api/v1/budgets": budgets_handler,
}


# --- Django views over the same handlers -----------------------------------------------


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponse:
    return to_django(await chat_completions_handler(from_django(request)))


async def models(request: HttpRequest) -> HttpResponse:
    return to_django(await models_handler(from_django(request)))


async def usage(request: HttpRequest) -> HttpResponse:
    return to_django(await usage_handler(from_django(request)))


async def budgets(request: HttpRequest) -> HttpResponse:
    return to_django(await budgets_handler(from_django(request)))


@csrf_exempt
async def not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    return to_django(
        error_api_response(
            404, f"Unknown endpoint: {request.method} {request.path}.", code="unknown_url"
        )
    )
