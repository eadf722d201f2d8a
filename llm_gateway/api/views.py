"""OpenAI-compatible endpoints: ``/v1/chat/completions``, ``/v1/models`` and usage.

Every path ends in an OpenAI-shaped JSON answer: gateway refusals as
``APIError``, provider failures as ``LLMError``; nothing reaches Django's HTML
error pages. The call itself goes through ``LLMManager`` like the Python API.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from llm_gateway.api import usage as usage_selectors
from llm_gateway.api.auth import (
    api_key_authenticate,
    model_allowed_check,
    rate_limit_check,
    request_body_read,
)
from llm_gateway.api.cached import cache_through
from llm_gateway.api.errors import (
    APIError,
    error_response,
    llm_error_payload,
    llm_error_response,
)
from llm_gateway.api.parsing import ChatBody, parse_chat_body
from llm_gateway.interface import LLMError, StreamChunk
from llm_gateway.keys import KeyInfo
from llm_gateway.manager import CallContext, LLMManager
from llm_gateway.ratelimit import rate_limit_spend_tokens
from llm_gateway.validation_dispatch import validation_enqueue, validation_mode

logger = logging.getLogger(__name__)
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _context(request: HttpRequest, key: KeyInfo, chat: ChatBody) -> CallContext:
    agent = (request.headers.get("X-Agent-Name") or key.agent_name).strip()[:200]
    return CallContext(
        agent_name=agent or key.agent_name,
        gateway_key_id=key.id,
        key_prefix=key.prefix,
        source="api",
        request_body=chat.body,
    )


async def _admit(request: HttpRequest) -> tuple[KeyInfo, ChatBody]:
    key = await api_key_authenticate(request)
    chat = parse_chat_body(request_body_read(request))
    model_allowed_check(key, chat.request.model or "")
    await rate_limit_check(key)
    return key, chat


def _gateway_headers(ctx: CallContext) -> dict[str, str]:
    record = ctx.record
    headers = {"x-gateway-request-id": str(ctx.request_id)}
    if record is not None:
        headers["x-gateway-provider"] = record.provider
        headers["x-gateway-retries"] = str(record.retries)
    return headers


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return error_response(405, "Use POST for /v1/chat/completions.", code="method_not_allowed")
    try:
        key, chat = await _admit(request)
    except APIError as refusal:
        return refusal.response()
    ctx = _context(request, key, chat)
    mode = validation_mode(request, key)
    return await cache_through(
        request,
        key,
        chat,
        ctx,
        inline_validation=mode == "inline",
        answer=lambda: _answer(chat, ctx, key, mode),
    )


async def _answer(chat: ChatBody, ctx: CallContext, key: KeyInfo, mode: str) -> HttpResponse:
    """The answer from the providers (the response cache calls this on a miss)."""
    if chat.stream:
        return await _stream(chat, ctx, key)
    try:
        response = await LLMManager().generate_response(
            chat.request, validate_response=mode == "inline", context=ctx
        )
    except LLMError as error:
        return llm_error_response(error, _gateway_headers(ctx))
    await rate_limit_spend_tokens(
        key_id=key.id, tpm=key.tpm_limit, tokens=response.token_usage.total_tokens
    )
    if mode == "async":
        validation_enqueue(ctx=ctx, content=response.content, finish_reason=response.finish_reason)
    out = HttpResponse(json.dumps(response.raw), content_type="application/json")
    for name, value in _gateway_headers(ctx).items():
        out[name] = value
    out["x-gateway-cost-usd"] = str(response.token_usage.estimated_cost)
    if mode == "inline":
        out["x-gateway-validation"] = str(response.metadata["validation"]["quality_score"])
    return out


async def _stream(chat: ChatBody, ctx: CallContext, key: KeyInfo) -> HttpResponse:
    """Open the stream before answering, so failures before the first chunk get a
    proper status code and headers can name the provider that answered."""
    chunks = LLMManager().stream_response(chat.request, context=ctx).__aiter__()
    try:
        first = await chunks.__anext__()
    except LLMError as error:
        return llm_error_response(error, _gateway_headers(ctx))
    body = _sse(first, chunks, chat.client_wants_usage, ctx, key)
    response = StreamingHttpResponse(body, content_type="text/event-stream")
    for name, value in {**SSE_HEADERS, **_gateway_headers(ctx)}.items():
        response[name] = value
    return response


def _encode(chunk: StreamChunk) -> str:
    return f"data: {chunk.raw_json or json.dumps(chunk.raw)}\n\n"


async def _sse(
    first: StreamChunk,
    rest: AsyncIterator[StreamChunk],
    wants_usage: bool,
    ctx: CallContext,
    key: KeyInfo,
) -> AsyncIterator[str]:
    try:
        chunk: StreamChunk | None = first
        while chunk is not None:
            # The gateway always asks for usage; the agent sees it only if it asked.
            if not (
                chunk.usage is not None
                and not chunk.delta
                and not wants_usage
                and not (chunk.raw or {}).get("choices")
            ):
                yield _encode(chunk)
            chunk = await anext(rest, None)
    except LLMError as error:
        _, payload, _ = llm_error_payload(error)
        yield f"data: {json.dumps(payload)}\n\n"
        return
    finally:
        await rest.aclose()  # records client_disconnected if we stopped early
    record = ctx.record
    if record is not None:
        yield f": x-gateway-cost-usd {record.cost}\n\n"
        await rate_limit_spend_tokens(
            key_id=key.id, tpm=key.tpm_limit, tokens=record.prompt_tokens + record.completion_tokens
        )
    yield "data: [DONE]\n\n"


_models_cache: dict[str, tuple[float, list[dict]]] = {}


async def models(request: HttpRequest) -> HttpResponse:
    try:
        await api_key_authenticate(request)
    except APIError as refusal:
        return refusal.response()
    cached = _models_cache.get("all")
    if cached is None or time.monotonic() - cached[0] > 60:
        data = await usage_selectors.model_list(LLMManager())
        _models_cache["all"] = cached = (time.monotonic(), data)
    return JsonResponse({"object": "list", "data": cached[1]})


async def usage(request: HttpRequest) -> HttpResponse:
    try:
        key = await api_key_authenticate(request)
    except APIError as refusal:
        return refusal.response()
    period = request.GET.get("period", "daily")
    if period not in usage_selectors.PERIODS:
        return error_response(400, "period must be one of daily, weekly, monthly.", param="period")
    return JsonResponse(await usage_selectors.key_usage(key_id=key.id, period=period))


async def budgets(request: HttpRequest) -> HttpResponse:
    try:
        key = await api_key_authenticate(request)
    except APIError as refusal:
        return refusal.response()
    data = await usage_selectors.key_budgets(agent_name=key.agent_name, key_prefix=key.prefix)
    return JsonResponse({"object": "list", "data": data})


@csrf_exempt
async def not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    return error_response(
        404, f"Unknown endpoint: {request.method} {request.path}.", code="unknown_url"
    )
