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

from asgiref.sync import sync_to_async
from django.db import DatabaseError, close_old_connections
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from llm_gateway.api import usage as usage_selectors
from llm_gateway.api.answers import StreamShape, streamed_answer, whole_answer
from llm_gateway.api.attribution import openai_body_hints
from llm_gateway.api.auth import Admission, Asked, api_key_authenticate, request_admit
from llm_gateway.api.cached import cache_through
from llm_gateway.api.calls import api_call_context
from llm_gateway.api.errors import (
    APIError,
    error_api_response,
    llm_error_api_response,
    llm_error_payload,
)
from llm_gateway.api.http import (
    ApiRequest,
    ApiResponse,
    django_served,
    from_django,
    json_response,
    to_django,
)
from llm_gateway.api.messages import count_tokens_handler, messages_handler
from llm_gateway.api.parsing import ChatBody, parse_chat_body
from llm_gateway.api.ratelimit_headers import rate_limit_headers
from llm_gateway.interface import LLMError, StreamChunk
from llm_gateway.keys import KeyInfo
from llm_gateway.manager import CallContext
from llm_gateway.validation_dispatch import validation_mode

logger = logging.getLogger(__name__)


def _context(request: ApiRequest, admitted: Admission[ChatBody]) -> CallContext:
    chat = admitted.asked.parsed
    return api_call_context(
        request, admitted.key, agent_name=admitted.agent_name, operation="chat", body=chat.body
    )


def _chat_read(raw: bytes) -> Asked[ChatBody]:
    chat = parse_chat_body(raw)
    return Asked(chat, chat.request, chat.request.model or "", **openai_body_hints(chat.body))


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
    admitted = await request_admit(request, _chat_read, operation="chat")
    key, chat = admitted.key, admitted.asked.parsed
    ctx = _context(request, admitted)
    mode = validation_mode(request.headers, key)
    response = await cache_through(
        request,
        key,
        chat,
        ctx,
        inline_validation=mode == "inline",
        answer=lambda: _answer(chat, ctx, key, mode),
    )
    response.headers.update(rate_limit_headers(admitted.limits))
    return response


async def _answer(chat: ChatBody, ctx: CallContext, key: KeyInfo, mode: str) -> ApiResponse:
    """The answer from the providers (the response cache calls this on a miss)."""
    if chat.stream:
        shape = ChatStream(chat.client_wants_usage)
        return await streamed_answer(
            chat.request, ctx, key, shape, error_response=llm_error_api_response
        )
    return await whole_answer(chat.request, ctx, key, mode, error_response=llm_error_api_response)


class ChatStream(StreamShape):
    """OpenAI ``chat.completion.chunk`` events, relayed as the provider sent them."""

    tail = "data: [DONE]\n\n"

    def __init__(self, wants_usage: bool) -> None:
        self.wants_usage = wants_usage

    def encode(self, batch: list[StreamChunk]) -> str:
        return "".join(
            f"data: {chunk.raw_json or json.dumps(chunk.raw)}\n\n"
            for chunk in batch
            if not self._hidden(chunk)
        )

    def _hidden(self, chunk: StreamChunk) -> bool:
        """The gateway always asks for usage; the agent sees that chunk only if it asked."""
        usage_only = (
            chunk.usage is not None and not chunk.delta and not (chunk.raw or {}).get("choices")
        )
        return usage_only and not self.wants_usage

    def error_event(self, error: LLMError) -> str:
        _, payload, _ = llm_error_payload(error)
        return f"data: {json.dumps(payload)}\n\n"


async def models_handler(request: ApiRequest) -> ApiResponse:
    try:
        await api_key_authenticate(request.headers, request=request, operation="models")
    except APIError as refusal:
        return refusal.api_response()
    return json_response({"object": "list", "data": await usage_selectors.model_list_cached()})


async def usage_handler(request: ApiRequest) -> ApiResponse:
    try:
        key = await api_key_authenticate(request.headers, request=request, operation="usage")
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
        key = await api_key_authenticate(request.headers, request=request, operation="budgets")
    except APIError as refusal:
        return refusal.api_response()
    data = await usage_selectors.key_budgets(agent_name=key.agent_name, key_prefix=key.prefix)
    return json_response({"object": "list", "data": data})


# Served straight from the ASGI router (llm_gateway.api.asgi), skipping Django's cycle.
FAST_ROUTES = {
    "/v1/chat/completions": chat_completions_handler,
    "/v1/messages": messages_handler,
    "/v1/messages/count_tokens": count_tokens_handler,
    "/v1/models": models_handler,
    "/api/v1/usage": usage_handler,
    "/api/v1/budgets": budgets_handler,
}


# --- Django views over the same handlers -----------------------------------------------


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponse:
    return await django_served(chat_completions_handler, request)


@csrf_exempt
async def messages(request: HttpRequest) -> HttpResponse:
    return await django_served(messages_handler, request)


@csrf_exempt
async def count_tokens(request: HttpRequest) -> HttpResponse:
    return to_django(await count_tokens_handler(from_django(request)))


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
