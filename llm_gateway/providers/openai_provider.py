"""OpenAI (and OpenAI-compatible) provider on the official async SDK.

The SDK's own retries are off (``max_retries=0`` on the client): the gateway
retries itself so it can count retries, honour ``Retry-After`` against its own
deadline and fail over. Responses are read raw (``with_raw_response`` /
``with_streaming_response``) so the gateway forwards the provider's JSON as it
came instead of round-tripping it through pydantic models on the hot path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

# httpx is imported up front: the SDK looks for an already-loaded httpx on every
# request, and a first import racing in a worker thread is seen half-initialised.
import httpx  # noqa: F401
import httpx2
import openai
from django.conf import settings

from llm_gateway.interface import (
    LLMError,
    LLMProviderError,
    LLMRequest,
    LLMResponse,
    StreamChunk,
    TokenUsage,
)
from llm_gateway.providers.clients import sdk_client
from llm_gateway.providers.openai_operations import OpenAIOperations
from llm_gateway.providers.openai_wire import (  # retry_after_seconds: re-exported
    drained,
    json_loads,
    map_openai_error,
    retry_after_seconds,
    sdk_stream,
)
from llm_gateway.providers.sdk_base import SDKProvider

__all__ = ["OpenAIProvider", "map_openai_error", "retry_after_seconds"]

logger = logging.getLogger(__name__)


def _request_options(request: LLMRequest) -> dict[str, Any]:
    """The SDK's per-request options. The idempotency key is the gateway's own
    call id: without one the SDK draws a ``uuid4`` per request (it keeps it for
    its own retries, which are off here, and OpenAI's client sends it nowhere)."""
    options: dict[str, Any] = {"idempotency_key": request.call_id or None}
    if request.upstream_headers:
        options["headers"] = request.upstream_headers
    return options


# The messages travel in ``extra_body`` (merged over the typed fields by the SDK):
# the SDK's recursive transform of typed ``messages`` costs more CPU than the rest
# of the gateway's work per call, and the body is already valid OpenAI JSON.
_NO_MESSAGES: list = []


def openai_body(
    request: LLMRequest, default_model: str, temperature: float | None
) -> dict[str, Any]:
    """The chat.completions body: explicit fields first, everything else forwarded."""
    body: dict[str, Any] = dict(request.extra)
    body["model"] = request.model or default_model
    body["messages"] = request.to_messages()
    if request.max_tokens is not None and "max_completion_tokens" not in body:
        body["max_tokens"] = request.max_tokens
    temp = request.temperature
    if temp is None and not request.passthrough:
        temp = temperature
    if temp is not None and "temperature" not in request.extra:
        body["temperature"] = temp
    if request.response_format is not None:
        body["response_format"] = request.response_format
    body.pop("stream", None)
    body.pop("stream_options", None)
    return body


def response_from_openai(data: dict[str, Any], provider: str, elapsed: float) -> LLMResponse:
    choice = (data.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    return LLMResponse(
        content=message.get("content") or "",
        model=data.get("model") or "",
        provider=provider,
        token_usage=TokenUsage.from_openai(data.get("usage")),
        response_time=elapsed,
        finish_reason=choice.get("finish_reason"),
        raw=data,
    )


def chunk_from_openai(data: dict[str, Any]) -> StreamChunk:
    choices = data.get("choices") or []
    choice = choices[0] if choices else {}
    usage = data.get("usage")
    return StreamChunk(
        delta=(choice.get("delta") or {}).get("content") or "",
        raw=data,
        finish_reason=choice.get("finish_reason"),
        usage=TokenUsage.from_openai(usage) if usage else None,
        model=data.get("model"),
    )


class OpenAIProvider(OpenAIOperations, SDKProvider):
    """OpenAI through ``openai.AsyncOpenAI``: chat here, the other operations in the mixin."""

    kind = "openai"
    sdk = openai
    sdk_error = openai.OpenAIError

    def __init__(
        self,
        api_key: str | None = None,
        model: str | None = None,
        temperature: float | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        *,
        name: str = "openai",
    ) -> None:
        self.api_key = api_key if api_key is not None else settings.OPENAI_API_KEY
        self.default_model = model or settings.LLM_MODEL
        self.temperature = temperature if temperature is not None else settings.LLM_TEMPERATURE
        self.base_url = base_url if base_url is not None else settings.OPENAI_BASE_URL
        self.timeout = float(timeout if timeout is not None else settings.LLM_TIMEOUT)
        self.max_retries = max_retries if max_retries is not None else settings.LLM_MAX_RETRIES
        self.name = name

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIProvider(name={self.name!r}, base_url={self.base_url!r})"

    def client(self) -> openai.AsyncOpenAI:
        return sdk_client(
            openai.AsyncOpenAI,
            openai.DefaultAioHttpClient,
            timeout=self.timeout,
            api_key=self.api_key,
            base_url=self.base_url,
        )

    async def complete(self, request: LLMRequest) -> LLMResponse:
        body = openai_body(request, self.default_model, self.temperature)
        started = time.monotonic()
        reply = await self._reply(
            lambda client: client.post(
                "/chat/completions",
                body=body,
                cast_to=httpx2.Response,
                options=_request_options(request),
            )
        )
        response = response_from_openai(reply.data, self.name, time.monotonic() - started)
        response.raw_json = reply.content
        return response

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamChunk]:
        body = openai_body(request, self.default_model, self.temperature)
        body["stream_options"] = {"include_usage": True}  # untyped, like ``messages``
        opened = self.client().chat.completions.with_streaming_response.create(
            model=body["model"],
            messages=_NO_MESSAGES,
            stream=True,
            extra_body=body,
            extra_headers=request.upstream_headers or None,
        )
        async for chunk in sdk_stream(opened, lambda r: _sse_chunks(r, self.name), self.name):
            yield chunk

    def map_error(self, exc: Exception) -> LLMError:
        return map_openai_error(exc, self.name)

    async def _models_page(self, limit: int | None) -> Any:
        return await self.client().models.list()  # one unpaginated list


def _data_lines(buffer: bytearray) -> list[bytes]:
    """Take the complete ``data:`` lines out of ``buffer`` (the rest stays)."""
    end = buffer.rfind(b"\n")
    if end < 0:
        return []
    complete = bytes(buffer[: end + 1])
    del buffer[: end + 1]
    return [line[5:].strip() for line in complete.splitlines() if line.startswith(b"data:")]


async def _sse_chunks(response: Any, provider: str) -> AsyncIterator[StreamChunk]:
    """Parse the SSE body a network read at a time (not line by line through the
    HTTP client's text decoders, which cost more than the parsing itself)."""
    finished = False
    buffer = bytearray()
    blocks = response.iter_bytes().__aiter__()
    async for block in blocks:
        buffer += block
        for payload in _data_lines(buffer):
            if payload == b"[DONE]":
                await drained(blocks)
                return
            chunk = _chunk(payload, provider)
            finished = finished or chunk.finish_reason is not None
            yield chunk
    if not finished:  # some compatible servers omit [DONE]; a finish_reason is enough
        raise LLMProviderError("The stream ended before it finished.", provider=provider)


def _chunk(payload: bytes, provider: str) -> StreamChunk:
    data = json_loads(payload)
    if "error" in data and not data.get("choices"):
        message = (data["error"] or {}).get("message") or "stream error"
        raise LLMProviderError(message, provider=provider)
    chunk = chunk_from_openai(data)
    chunk.raw_json = payload.decode()
    return chunk
