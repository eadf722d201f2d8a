"""``/v1/embeddings``, ``/v1/responses``, ``/v1/completions`` and ``/v1/moderations``.

Each is the same handler over its operation (``llm_gateway.operations``):
admit (key, body, model, rate limit), answer through ``OperationManager``
(budgets, routing, retries, failover, one record), then the provider's bytes
go back with the gateway's headers. Streams (Responses, legacy completions)
are relayed event by event as the provider sent them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

from django.db import DatabaseError

from llm_gateway.api.answers import SSE_HEADERS
from llm_gateway.api.attribution import openai_body_hints
from llm_gateway.api.auth import Asked, request_admit
from llm_gateway.api.calls import api_call_context
from llm_gateway.api.calls import gateway_headers as _gateway_headers
from llm_gateway.api.errors import (
    APIError,
    error_api_response,
    llm_error_api_response,
    llm_error_payload,
)
from llm_gateway.api.http import ApiRequest, ApiResponse, Handler, arrived_together
from llm_gateway.api.operation_cache import embeddings_cache_through
from llm_gateway.api.parsing_operations import PARSERS, OperationBody
from llm_gateway.api.ratelimit_headers import rate_limit_headers
from llm_gateway.api.views import _database_unavailable
from llm_gateway.interface import LLMError, LLMRequest
from llm_gateway.keys import KeyInfo
from llm_gateway.manager import CallContext
from llm_gateway.operation_call import OperationManager, operation_request
from llm_gateway.operations import EMBEDDINGS, RESPONSES, SPECS, SSEEvent
from llm_gateway.ratelimit import rate_limit_spend_tokens
from llm_gateway.response_owners import response_owner_remember
from llm_gateway.validation_dispatch import validation_enqueue, validation_mode

# Operations with an output text that validation rules can judge.
_VALIDATED = (RESPONSES, "completions")


def _reader(operation: str) -> Callable[[bytes], Asked[OperationBody]]:
    """The operation's body, and the request as the manager sees it."""
    spec, parse = SPECS[operation], PARSERS[operation]

    def read(raw: bytes) -> Asked[OperationBody]:
        parsed = parse(raw)
        llm_request = operation_request(
            spec, parsed.body, prompt=parsed.prompt, input_tokens=parsed.input_tokens
        )
        return Asked(
            parsed,
            llm_request,
            parsed.model,
            **openai_body_hints(parsed.body),
            completion_default=0,  # embeddings and moderations generate nothing
        )

    return read


def operation_handler(operation: str) -> Handler:
    """The protocol-neutral handler of one operation's POST endpoint."""
    spec, read = SPECS[operation], _reader(operation)

    async def handler(request: ApiRequest) -> ApiResponse:
        if request.method != "POST":
            return error_api_response(405, f"Use POST for {spec.path}.", code="method_not_allowed")
        try:
            admitted = await request_admit(request, read, operation=operation)
            key, parsed, llm_request = admitted.key, admitted.asked.parsed, admitted.asked.request
            ctx = api_call_context(
                request,
                key,
                agent_name=admitted.agent_name,
                operation=operation,
                body=parsed.for_the_log(),
            )
            if operation == EMBEDDINGS:
                response = await embeddings_cache_through(
                    request,
                    key,
                    parsed,
                    llm_request,
                    ctx,
                    answer=lambda: _answer(parsed, llm_request, ctx, key, "off"),
                )
            else:
                mode = validation_mode(request.headers, key) if operation in _VALIDATED else "off"
                response = await _answer(parsed, llm_request, ctx, key, mode)
            response.headers.update(rate_limit_headers(admitted.limits))
            return response
        except APIError as refusal:
            return refusal.api_response()
        except DatabaseError:
            return await _database_unavailable()

    handler.__name__ = f"{operation}_handler"
    return handler


async def _answer(
    parsed: OperationBody, request: LLMRequest, ctx: CallContext, key: KeyInfo, mode: str
) -> ApiResponse:
    manager = OperationManager(SPECS[parsed.operation])
    if parsed.stream:
        return await _stream(manager.stream(request, parsed.body, context=ctx), parsed, ctx, key)
    try:
        result = await manager.run(request, parsed.body, context=ctx, validate=mode == "inline")
    except LLMError as error:
        return llm_error_api_response(error, _gateway_headers(ctx))
    await rate_limit_spend_tokens(
        key_id=key.id, tpm=key.tpm_limit, tokens=result.usage.total_tokens
    )
    await _remember_response(ctx, key)
    if mode == "async" and result.text:
        validation_enqueue(ctx=ctx, content=result.text, finish_reason=result.record.finish_reason)
    headers = _gateway_headers(ctx)
    headers["x-gateway-cost-usd"] = str(result.record.cost)
    if result.record.validation is not None:
        headers["x-gateway-validation"] = str(result.record.validation["quality_score"])
    return ApiResponse(body=result.reply.content, headers=headers)


async def _remember_response(ctx: CallContext, key: KeyInfo) -> None:
    record = ctx.record
    response_id = record.metadata.get("response_id") if record is not None else None
    if record is not None and response_id and record.status == "success":
        await response_owner_remember(
            response_id=response_id, key_id=key.id, provider=record.provider
        )


async def _stream(
    events: AsyncIterator[SSEEvent], parsed: OperationBody, ctx: CallContext, key: KeyInfo
) -> ApiResponse:
    """Open the stream before answering: a failure before the first event gets a
    real status code, and the headers can name the provider that answered."""
    rest = events.__aiter__()
    try:
        first = await rest.__anext__()
    except LLMError as error:
        return llm_error_api_response(error, _gateway_headers(ctx))
    return ApiResponse(
        headers={**SSE_HEADERS, **_gateway_headers(ctx)},
        content_type="text/event-stream",
        stream=_relay(first, rest, parsed, ctx, key),
    )


def _hidden(event: SSEEvent, parsed: OperationBody) -> bool:
    """The gateway always asks for the completions usage chunk; the agent sees it
    only if it asked."""
    data = event.data or {}
    return (
        parsed.operation != RESPONSES
        and "usage" in data
        and not data.get("choices")
        and not (parsed.client_wants_usage)
    )


def _stream_error(error: LLMError, operation: str) -> bytes:
    _, payload, _ = llm_error_payload(error)
    if operation == RESPONSES:  # the Responses API's own error event
        event = {"type": "error", **payload["error"]}
        return f"event: error\ndata: {json.dumps(event)}\n\n".encode()
    return f"data: {json.dumps(payload)}\n\n".encode()


async def _relay(
    first: SSEEvent,
    rest: AsyncIterator[SSEEvent],
    parsed: OperationBody,
    ctx: CallContext,
    key: KeyInfo,
) -> AsyncIterator[bytes]:
    """The provider's events as they come; ``[DONE]`` is held back until the
    call is recorded, so a client that stops reading there finds the record."""
    batches = arrived_together(first, rest)
    done = False
    try:
        async for batch in batches:
            done = done or any(event.done for event in batch)
            out = b"".join(e.raw for e in batch if not (e.done or _hidden(e, parsed)))
            if out:
                yield out
    except LLMError as error:
        yield _stream_error(error, parsed.operation)
        return
    finally:
        await batches.aclose()  # stops its reader before ``rest`` is closed
        await rest.aclose()  # type: ignore[attr-defined]  # records the end
    tail = b""
    record = ctx.record
    if record is not None:
        tokens = record.prompt_tokens + record.completion_tokens
        await rate_limit_spend_tokens(key_id=key.id, tpm=key.tpm_limit, tokens=tokens)
        await _remember_response(ctx, key)
        tail = f": x-gateway-cost-usd {record.cost}\n\n".encode()
    yield tail + (b"data: [DONE]\n\n" if done else b"")


HANDLERS: dict[str, Handler] = {spec.path: operation_handler(name) for name, spec in SPECS.items()}
