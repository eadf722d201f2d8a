"""OpenAI (and OpenAI-compatible) provider on the official async SDK.

The SDK's own retries are off (``max_retries=0`` on the client): the gateway
retries itself so it can count retries, honour ``Retry-After`` against its own
deadline and fail over. Responses are read raw (``with_raw_response`` /
``with_streaming_response``) so the gateway forwards the provider's JSON as it
came instead of round-tripping it through pydantic models on the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from typing import Any

# httpx is imported up front: the SDK looks for an already-loaded httpx on every
# request, and a first import racing in a worker thread is seen half-initialised.
import httpx  # noqa: F401
import jiter
import openai
from django.conf import settings

from llm_gateway.interface import (
    INVALID_REQUEST_STATUSES,
    LLMError,
    LLMProvider,
    LLMProviderError,
    LLMQuotaExceededError,
    LLMRequest,
    LLMResponse,
    LLMTimeoutError,
    StreamChunk,
    TokenUsage,
    status_to_error,
)
from llm_gateway.providers.clients import sdk_client

logger = logging.getLogger(__name__)


def retry_after_seconds(headers: Any) -> float | None:
    """Read ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _error_code(exc: openai.APIStatusError) -> str | None:
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("error", body) if isinstance(body.get("error", body), dict) else body
    return inner.get("code") or inner.get("type")


def map_openai_error(exc: Exception, provider: str) -> LLMError:
    """Translate the SDK's exceptions into the gateway's hierarchy."""
    if isinstance(exc, openai.APITimeoutError):
        return LLMTimeoutError("The provider did not answer in time.", provider=provider)
    if isinstance(exc, openai.APIConnectionError):
        return LLMProviderError(f"Could not reach the provider: {exc}", provider=provider)
    if not isinstance(exc, openai.APIStatusError):
        return LLMProviderError(str(exc), provider=provider)
    status, code, message = exc.status_code, _error_code(exc), exc.message
    if status == 429 and code == "insufficient_quota":
        return LLMQuotaExceededError(message, provider=provider, status_code=status)
    return status_to_error(
        status,
        message,
        # OpenAI's code travels only with a refused request; a 5xx keeps "provider_error".
        code=code if status in INVALID_REQUEST_STATUSES else None,
        retry_after=retry_after_seconds(exc.response.headers),
        provider=provider,
    )


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


def json_loads(data: bytes) -> Any:
    """jiter (the SDK's parser) takes a third of json.loads' time per chunk, but
    refuses a lone surrogate escape, which json.loads accepts: keep the answer."""
    try:
        return jiter.from_json(data)
    except ValueError:
        return json.loads(data)


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


class OpenAIProvider(LLMProvider):
    """OpenAI chat completions through ``openai.AsyncOpenAI``."""

    kind = "openai"

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
        try:
            raw = await self.client().chat.completions.with_raw_response.create(
                model=body["model"],
                messages=_NO_MESSAGES,
                extra_body=body,
                extra_headers=request.upstream_headers or None,
            )
            data = json_loads(raw.content)
        except openai.OpenAIError as exc:
            raise map_openai_error(exc, self.name) from exc
        except ValueError as exc:
            raise LLMProviderError(
                "The provider answered with invalid JSON.", provider=self.name
            ) from exc
        return response_from_openai(data, self.name, time.monotonic() - started)

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamChunk]:
        body = openai_body(request, self.default_model, self.temperature)
        body["stream_options"] = {"include_usage": True}  # untyped, like ``messages``
        completions = self.client().chat.completions.with_streaming_response
        try:
            async with completions.create(
                model=body["model"],
                messages=_NO_MESSAGES,
                stream=True,
                extra_body=body,
                extra_headers=request.upstream_headers or None,
            ) as response:
                async for chunk in _sse_chunks(response, self.name):
                    yield chunk
        except openai.OpenAIError as exc:
            raise map_openai_error(exc, self.name) from exc
        except LLMError:
            raise
        except Exception as exc:
            # private HTTP library's types, not openai.OpenAIError: all mean "stream broke".
            raise LLMProviderError(f"The stream broke: {exc}", provider=self.name) from exc

    async def list_models(self) -> list[str]:
        try:
            page = await self.client().models.list()
        except openai.OpenAIError as exc:
            logger.warning("provider %s: listing models failed (%s)", self.name, type(exc).__name__)
            return []
        return [m.id for m in page.data]

    async def health_check(self) -> dict[str, Any]:
        started = time.monotonic()
        try:
            await self.client().models.list()
        except openai.OpenAIError as exc:
            error = map_openai_error(exc, self.name)
            return {"provider": self.name, "kind": self.kind, "healthy": False, "error": error.code}
        latency = (time.monotonic() - started) * 1000
        return {"provider": self.name, "kind": self.kind, "healthy": True, "latency_ms": latency}


# How long to wait, after ``[DONE]``, for the end of the HTTP body. A body read to
# its end puts the connection back in the pool; one closed early costs the next
# stream a new TCP connection (measured: every stream reconnected).
_DRAIN_SECONDS = 0.5


async def _drained(blocks: AsyncIterator[bytes]) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_DRAIN_SECONDS):
            async for _ in blocks:
                pass


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
                await _drained(blocks)
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
