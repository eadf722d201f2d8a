"""A provider's answer as an HTTP response, whole or streamed, for any protocol.

The chat and the messages endpoints answer the same way and differ only in
shape: how an error is written, and how stream chunks become SSE events. The
shape comes in as functions; the rest (the manager call, the key's TPM, the
validation, the ``x-gateway-*`` headers, closing the stream) lives here once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

from llm_gateway.api.calls import gateway_headers
from llm_gateway.api.http import ApiResponse, arrived_together
from llm_gateway.interface import LLMError, LLMRequest, StreamChunk
from llm_gateway.keys import KeyInfo
from llm_gateway.manager import CallContext, LLMManager
from llm_gateway.ratelimit import rate_limit_spend_tokens
from llm_gateway.validation_dispatch import validation_enqueue

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

ErrorResponse = Callable[[LLMError, dict[str, str]], ApiResponse]
Headers = Callable[[CallContext], dict[str, str]]


async def whole_answer(
    request: LLMRequest,
    ctx: CallContext,
    key: KeyInfo,
    mode: str,
    *,
    error_response: ErrorResponse,
    headers: Headers = gateway_headers,
) -> ApiResponse:
    """The provider's answer body as it came (``LLMResponse.raw_json``, else ``raw``
    encoded), with the call's headers."""
    try:
        response = await LLMManager().generate_response(
            request, validate_response=mode == "inline", context=ctx
        )
    except LLMError as error:
        return error_response(error, headers(ctx))
    tokens = response.token_usage.total_tokens
    await rate_limit_spend_tokens(key_id=key.id, tpm=key.tpm_limit, tokens=tokens)
    if mode == "async":
        validation_enqueue(ctx=ctx, content=response.content, finish_reason=response.finish_reason)
    out = headers(ctx)
    out["x-gateway-cost-usd"] = str(response.token_usage.estimated_cost)
    if mode == "inline":
        out["x-gateway-validation"] = str(response.metadata["validation"]["quality_score"])
    body = response.raw_json or json.dumps(response.raw).encode()
    return ApiResponse(body=body, headers=out)


class StreamShape:
    """How one protocol writes a stream: its chunks, a late error, and its last words."""

    tail = ""  # after the cost comment, e.g. OpenAI's ``data: [DONE]``

    def encode(self, batch: list[StreamChunk]) -> str:
        raise NotImplementedError

    def error_event(self, error: LLMError) -> str:
        raise NotImplementedError


async def streamed_answer(
    request: LLMRequest,
    ctx: CallContext,
    key: KeyInfo,
    shape: StreamShape,
    *,
    error_response: ErrorResponse,
    headers: Headers = gateway_headers,
) -> ApiResponse:
    """Open the stream before answering, so failures before the first chunk get a
    proper status code and headers can name the provider that answered."""
    chunks = LLMManager().stream_response(request, context=ctx).__aiter__()
    try:
        first = await chunks.__anext__()
    except LLMError as error:
        return error_response(error, headers(ctx))
    return ApiResponse(
        headers={**SSE_HEADERS, **headers(ctx)},
        content_type="text/event-stream",
        stream=_relay(first, chunks, ctx, key, shape),
    )


async def _relay(
    first: StreamChunk,
    rest: AsyncIterator[StreamChunk],
    ctx: CallContext,
    key: KeyInfo,
    shape: StreamShape,
) -> AsyncIterator[str]:
    batches = arrived_together(first, rest)  # chunks that arrived together leave in one write
    try:
        async for batch in batches:
            if text := shape.encode(batch):
                yield text
    except LLMError as error:
        yield shape.error_event(error)
        return
    finally:
        await batches.aclose()  # stops its reader before ``rest`` is closed
        await rest.aclose()  # records client_disconnected if we stopped early
    last = ""
    record = ctx.record
    if record is not None:
        tokens = record.prompt_tokens + record.completion_tokens
        await rate_limit_spend_tokens(key_id=key.id, tpm=key.tpm_limit, tokens=tokens)
        last = f": x-gateway-cost-usd {record.cost}\n\n"  # an SSE comment: clients skip it
    if last or shape.tail:
        yield last + shape.tail
