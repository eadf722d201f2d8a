"""Anthropic's Messages API: ``POST /v1/messages`` and ``/v1/messages/count_tokens``.

For agents written against the ``anthropic`` SDK: set its ``base_url`` to the
gateway and its key to a gateway key (``x-api-key`` or ``Authorization:
Bearer``). Claude models are relayed natively to the Anthropic providers that
serve them (``LLMRequest.native``): the body goes out as sent and the answer
and stream events come back untouched. A model no Anthropic provider serves is
refused with a 400; the OpenAI-compatible endpoints serve every model.

Everything else is the chat endpoint's: admission (key, body, allowed model,
RPM/TPM with ``x-ratelimit-*`` headers), the manager (budgets, retries,
failover, the record with operation "messages"), validation when asked. Every
answer, refusals included, is Anthropic-shaped.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from calls.services import CallRecord
from common.redaction import redact_text
from llm_gateway.api.answers import StreamShape, streamed_answer, whole_answer
from llm_gateway.api.anthropic_errors import (
    anthropic_error_response,
    anthropic_llm_error_payload,
    anthropic_llm_error_response,
    anthropic_refusal_response,
)
from llm_gateway.api.anthropic_parsing import MessagesBody, parse_messages_body
from llm_gateway.api.attribution import request_attribute
from llm_gateway.api.auth import (
    agent_name_check,
    model_allowed_check,
    presented_key_authenticate,
    rate_limit_check,
    request_body_check,
)
from llm_gateway.api.cached import cache_through
from llm_gateway.api.calls import api_call_context, gateway_headers
from llm_gateway.api.errors import APIError
from llm_gateway.api.http import ApiRequest, ApiResponse, json_response
from llm_gateway.api.messages_cache import MessagesShape
from llm_gateway.api.ratelimit_headers import anthropic_rate_limit_headers, rate_limit_headers
from llm_gateway.api.resilience import DATABASE_ERRORS
from llm_gateway.interface import LLMError, LLMProviderError, StreamChunk
from llm_gateway.keys import KeyInfo
from llm_gateway.manager import Attempt, CallContext, LLMManager, call_failure_fill
from llm_gateway.refusals import record_submit
from llm_gateway.validation_dispatch import validation_mode

logger = logging.getLogger(__name__)
_NO_KEY = "x-api-key header is required (a gateway key; Authorization: Bearer works too)."

Serve = Callable[[ApiRequest], Awaitable[ApiResponse]]
SHAPE = MessagesShape()


async def messages_handler(request: ApiRequest) -> ApiResponse:
    return await _anthropic_shaped(request, _messages)


async def count_tokens_handler(request: ApiRequest) -> ApiResponse:
    return await _anthropic_shaped(request, _count_tokens)


async def _anthropic_shaped(request: ApiRequest, serve: Serve) -> ApiResponse:
    """Whatever happens, the agent's SDK gets an error it can parse."""
    if request.method != "POST":
        message = f"Method {request.method} is not allowed for {request.path}; use POST."
        return anthropic_error_response(405, message, headers={"allow": "POST"})
    try:
        return await serve(request)
    except APIError as refusal:
        return anthropic_refusal_response(refusal)
    except DATABASE_ERRORS as exception:
        logger.warning("API %s: database unavailable (%s)", request.path, type(exception).__name__)
        await sync_to_async(close_old_connections)()  # drop the broken connection
        message = "The gateway's database is unavailable; retry shortly."
        return anthropic_error_response(503, message, headers={"retry-after": "2"})
    except Exception as exception:  # noqa: BLE001 - the agent gets JSON, never a bare 500
        # The text redacted and cut: an exception can quote a body or a key.
        text = redact_text(str(exception))[:500]
        logger.error("API %s: unhandled %s: %s", request.path, type(exception).__name__, text)
        return anthropic_error_response(500, "The gateway had an internal error.")


# --- admission ----------------------------------------------------------------------------


def _raw_key(request: ApiRequest) -> str:
    raw = request.headers.get("x-api-key", "").strip()
    if raw:
        return raw
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def _admit(
    request: ApiRequest, operation: str
) -> tuple[KeyInfo, MessagesBody, dict[str, str]]:
    """The key, the checked body and the ``x-ratelimit-*`` headers of every answer."""
    raw = _raw_key(request)
    if not raw:
        raise APIError(401, _NO_KEY, code="invalid_api_key")
    key = await presented_key_authenticate(raw, request=request, operation=operation)
    body = request_body_check(request)
    parsed = parse_messages_body(body, request.headers, counting=operation == "count_tokens")
    request_attribute(parsed.request, request.headers, user=_metadata_user(parsed.body))
    model_allowed_check(key, parsed.model)
    agent_name_check(key, request.headers)  # refused before it counts against limits
    decision = await rate_limit_check(
        key, request=request, model=parsed.model, operation=operation, llm_request=parsed.request
    )
    return key, parsed, {**rate_limit_headers(decision), **anthropic_rate_limit_headers(decision)}


def _metadata_user(body: dict[str, Any]) -> Any:
    """Anthropic's end user: ``metadata.user_id`` (an ``x-gateway-user`` header wins)."""
    metadata = body.get("metadata")
    return metadata.get("user_id") if isinstance(metadata, dict) else None


async def _native_attempts(manager: LLMManager, parsed: MessagesBody) -> list[Attempt]:
    """The plan's attempts, refused with a 400 when no Anthropic provider serves the model."""
    plan = await manager.aplan(parsed.request)
    if not any(attempt.model == parsed.model for attempt in plan):
        raise APIError(
            400,
            f"The model '{parsed.model}' is not served by an Anthropic provider on this "
            "gateway: /v1/messages relays Claude models natively. Use /v1/chat/completions "
            "for other models.",
            param="model",
        )
    return plan


# --- /v1/messages ---------------------------------------------------------------------------


async def _messages(request: ApiRequest) -> ApiResponse:
    key, parsed, limits = await _admit(request, "messages")
    manager = LLMManager()
    await _native_attempts(manager, parsed)
    ctx = api_call_context(request, key, operation="messages", body=parsed.body)
    mode = validation_mode(request.headers, key)

    async def answer() -> ApiResponse:
        options = {"error_response": anthropic_llm_error_response, "headers": _headers}
        if parsed.stream:
            return await streamed_answer(parsed.request, ctx, key, STREAM, **options)
        return await whole_answer(parsed.request, ctx, key, mode, **options)

    response = await cache_through(
        request, key, parsed, ctx, inline_validation=mode == "inline", answer=answer, shape=SHAPE
    )
    response.headers.setdefault("request-id", str(ctx.request_id))  # a hit has it too
    response.headers.update(limits)
    return response


def _headers(ctx: CallContext) -> dict[str, str]:
    # ``request-id`` is where the anthropic SDK looks for an answer's id.
    return {**gateway_headers(ctx), "request-id": str(ctx.request_id)}


class MessagesStream(StreamShape):
    """Anthropic's events, relayed as sent, each with its ``event:`` line (the SDK needs it)."""

    def encode(self, batch: list[StreamChunk]) -> str:
        return "".join(
            f"event: {(chunk.raw or {}).get('type', 'message')}\n"
            f"data: {chunk.raw_json or json.dumps(chunk.raw)}\n\n"
            for chunk in batch
        )

    def error_event(self, error: LLMError) -> str:
        _, body, _ = anthropic_llm_error_payload(error)
        return f"event: error\ndata: {json.dumps(body)}\n\n"


STREAM = MessagesStream()


# --- /v1/messages/count_tokens ------------------------------------------------------------------


async def _count_tokens(request: ApiRequest) -> ApiResponse:
    """Anthropic's count for the body, from the first provider that can give it.

    Free upstream, so no budget is reserved; the call is recorded at $0 with
    the count in its metadata (not as usage: nothing was generated)."""
    key, parsed, limits = await _admit(request, "count_tokens")
    manager = LLMManager()
    attempts = [a for a in await _native_attempts(manager, parsed) if a.model == parsed.model]
    ctx = api_call_context(request, key, operation="count_tokens", body=parsed.body)
    record = _count_record(manager, ctx, parsed)
    try:
        counted = await _count_with(attempts, parsed, record)
    except LLMError as error:
        call_failure_fill(record, ctx, error)
        await record_submit(record, defer=ctx.defer_record)
        response = anthropic_llm_error_response(error, _headers(ctx))
    else:
        record.metadata["input_tokens"] = counted.get("input_tokens")
        record.latency_ms = (time.monotonic() - ctx.started) * 1000
        await record_submit(record, defer=ctx.defer_record)
        response = json_response(counted, headers=_headers(ctx))
    response.headers.update(limits)
    return response


def _count_record(manager: LLMManager, ctx: CallContext, parsed: MessagesBody) -> CallRecord:
    record = manager.call_record_start(ctx, parsed.request, stream=False)
    record.model = parsed.model
    return record


async def _count_with(
    attempts: list[Attempt], parsed: MessagesBody, record: CallRecord
) -> dict[str, Any]:
    """Each provider in turn until one counts; the caller's own mistakes end it at once."""
    last: LLMError = LLMProviderError("No provider can count tokens for this model.")
    for attempt in attempts:
        record.provider, record.provider_kind = attempt.provider.name, attempt.provider.kind
        try:
            return await attempt.provider.count_tokens(parsed.request)  # type: ignore[attr-defined]
        except LLMError as error:
            last = error
            if error.permanent:
                break
    raise last
