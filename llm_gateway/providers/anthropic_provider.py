"""Anthropic (Claude) through the official async SDK, behind OpenAI's format.

As in openai_provider: the SDK's retries are off (the gateway retries, counts
and fails over itself), and bodies are read raw and translated as dicts
(anthropic_translate) rather than through the SDK's pydantic models.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import anthropic
from django.conf import settings

from llm_gateway.interface import (
    LLMError,
    LLMInvalidRequestError,
    LLMProviderError,
    LLMQuotaExceededError,
    LLMRateLimitError,
    LLMRequest,
    LLMResponse,
    LLMTimeoutError,
    StreamChunk,
    status_to_error,
)
from llm_gateway.providers.anthropic_native import (
    PROTOCOL,
    NativeEvents,
    native_create_args,
    native_response,
)
from llm_gateway.providers.anthropic_translate import (
    StreamTranslator,
    anthropic_body,
    completion_from_anthropic,
    usage_from_anthropic,
)
from llm_gateway.providers.clients import sdk_client
from llm_gateway.providers.patterns import ServesPatterns
from llm_gateway.providers.sdk_base import SDKProvider, map_sdk_error, retry_after_seconds

logger = logging.getLogger(__name__)


def _error_field(body: Any, name: str) -> str | None:
    inner = body.get("error") if isinstance(body, dict) else None
    value = inner.get(name) if isinstance(inner, dict) else None
    return value if isinstance(value, str) else None


def map_anthropic_error(exc: Exception, provider: str) -> LLMError:
    """Translate the SDK's exceptions into the gateway's hierarchy."""
    return map_sdk_error(anthropic, exc, provider, _status_error)


def _status_error(exc: anthropic.APIStatusError, provider: str) -> LLMError:
    # Anthropic's own words, not the SDK's "Error code: 400 - {…}" around them.
    status, message = exc.status_code, _error_field(exc.body, "message") or exc.message
    if status == 400 and "credit balance" in message.lower():  # Anthropic bills this as a 400
        return LLMQuotaExceededError(message, provider=provider, status_code=status)
    if status == 504:  # read as a timeout here; OpenAI's 504 is a plain 5xx
        return LLMTimeoutError(message, provider=provider, status_code=status)
    # 529 overloaded_error lands in the transient fallback, with its type as the code.
    return status_to_error(
        status,
        message,
        code=_error_field(exc.body, "type"),
        retry_after=retry_after_seconds(exc.response.headers),
        provider=provider,
    )


def _stream_error(event: dict[str, Any], provider: str) -> LLMError:
    """An ``error`` event sent after the stream started (overloaded mid-stream…)."""
    error = event.get("error") or {}
    kind, message = error.get("type"), error.get("message") or "stream error"
    if kind == "rate_limit_error":
        return LLMRateLimitError(message, provider=provider)
    if kind == "invalid_request_error":
        return LLMInvalidRequestError(message, provider=provider)
    return LLMProviderError(message, provider=provider, code=kind)


class AnthropicProvider(ServesPatterns, SDKProvider):
    """Claude through ``anthropic.AsyncAnthropic``, answering in OpenAI's shape."""

    kind = "anthropic"
    sdk = anthropic
    sdk_error = anthropic.AnthropicError
    # Its own Messages bodies too, relayed as they are (anthropic_native).
    protocols = frozenset({"openai", PROTOCOL})

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        name: str = "anthropic",
        models: tuple[str, ...] = (),
        model: str | None = None,
        temperature: float | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url
        self.name = name
        self.model_patterns = tuple(models)
        self.default_model = model or settings.LLM_MODEL
        self.temperature = temperature if temperature is not None else settings.LLM_TEMPERATURE
        self.timeout = float(timeout if timeout is not None else settings.LLM_TIMEOUT)
        self.max_retries = max_retries if max_retries is not None else settings.LLM_MAX_RETRIES

    def __repr__(self) -> str:  # never show the key
        return f"AnthropicProvider(name={self.name!r}, base_url={self.base_url!r})"

    def client(self) -> anthropic.AsyncAnthropic:
        return sdk_client(
            anthropic.AsyncAnthropic,
            anthropic.DefaultAioHttpClient,
            timeout=self.timeout,
            api_key=self.api_key,
            base_url=self.base_url,
        )

    def _create_args(self, request: LLMRequest) -> dict[str, Any]:
        if request.native is not None:
            return native_create_args(request)
        body = anthropic_body(request, self.default_model, self.temperature)
        return {
            "model": body.pop("model"),
            "max_tokens": body.pop("max_tokens"),
            "messages": body.pop("messages"),
            "extra_body": body,
            "extra_headers": request.upstream_headers or None,
        }

    async def complete(self, request: LLMRequest) -> LLMResponse:
        args = self._create_args(request)
        started = time.monotonic()
        with self.sdk_errors():
            raw = await self.client().messages.with_raw_response.create(**args)
            message = json.loads(await raw.read())
        if request.native is not None:
            return native_response(message, provider=self.name, kind=self.kind, model=args["model"])
        data = completion_from_anthropic(message)
        choice = data["choices"][0]
        return LLMResponse(
            content=choice["message"]["content"] or "",
            model=message.get("model") or args["model"],
            provider=self.name,
            token_usage=usage_from_anthropic(message.get("usage")),
            response_time=time.monotonic() - started,
            finish_reason=choice["finish_reason"],
            raw=data,
            provider_kind=self.kind,
        )

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamChunk]:
        args = self._create_args(request)
        messages = self.client().messages.with_streaming_response
        with self.sdk_errors(streaming=True):
            async with messages.create(stream=True, **args) as response:
                native = request.native is not None
                chunks = _native_chunks if native else _event_chunks
                async for chunk in chunks(response, self.name):
                    yield chunk

    def map_error(self, exc: Exception) -> LLMError:
        return map_anthropic_error(exc, self.name)

    async def count_tokens(self, request: LLMRequest) -> dict[str, Any]:
        """Anthropic's token count for a relayed body (free, and never a completion)."""
        args = native_create_args(request, counting=True)
        with self.sdk_errors():
            raw = await self.client().messages.with_raw_response.count_tokens(**args)
            return json.loads(await raw.read())

    async def _models_page(self, limit: int | None) -> Any:
        return await self.client().models.list(limit=limit or 1000)


async def _events(response: Any, provider: str) -> AsyncIterator[tuple[dict[str, Any], str]]:
    """Each event's JSON and its text; an ``error`` event raises."""
    async for line in response.iter_lines():
        if not line.startswith("data:"):
            continue  # "event:" lines repeat the type that the data carries
        raw = line[5:].strip()
        event = json.loads(raw)
        if event.get("type") == "error":
            raise _stream_error(event, provider)
        yield event, raw


async def _native_chunks(response: Any, provider: str) -> AsyncIterator[StreamChunk]:
    reader = NativeEvents()
    async for event, raw in _events(response, provider):
        yield reader.feed(event, raw)
        if reader.finished:
            return
    raise LLMProviderError("The stream ended before it finished.", provider=provider)


async def _event_chunks(response: Any, provider: str) -> AsyncIterator[StreamChunk]:
    translator = StreamTranslator()
    async for event, _ in _events(response, provider):
        for chunk in translator.feed(event):
            yield chunk
        if translator.finished:
            return
    raise LLMProviderError("The stream ended before it finished.", provider=provider)
