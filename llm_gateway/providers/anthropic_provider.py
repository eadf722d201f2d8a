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
    LLMProvider,
    LLMProviderError,
    LLMQuotaExceededError,
    LLMRateLimitError,
    LLMRequest,
    LLMResponse,
    LLMTimeoutError,
    StreamChunk,
    status_to_error,
)
from llm_gateway.providers.anthropic_translate import (
    StreamTranslator,
    anthropic_body,
    completion_from_anthropic,
    usage_from_anthropic,
)
from llm_gateway.providers.clients import sdk_client
from llm_gateway.providers.openai_provider import retry_after_seconds
from llm_gateway.routing import ServesPatterns

logger = logging.getLogger(__name__)


def _error_type(body: Any) -> str | None:
    inner = body.get("error") if isinstance(body, dict) else None
    return inner.get("type") if isinstance(inner, dict) else None


def map_anthropic_error(exc: Exception, provider: str) -> LLMError:
    """Translate the SDK's exceptions into the gateway's hierarchy."""
    if isinstance(exc, anthropic.APITimeoutError):
        return LLMTimeoutError("The provider did not answer in time.", provider=provider)
    if isinstance(exc, anthropic.APIConnectionError):
        return LLMProviderError(f"Could not reach the provider: {exc}", provider=provider)
    if not isinstance(exc, anthropic.APIStatusError):
        return LLMProviderError(str(exc), provider=provider)
    status, message = exc.status_code, exc.message
    if status == 400 and "credit balance" in message.lower():  # Anthropic bills this as a 400
        return LLMQuotaExceededError(message, provider=provider, status_code=status)
    if status == 504:  # read as a timeout here; OpenAI's 504 is a plain 5xx
        return LLMTimeoutError(message, provider=provider, status_code=status)
    # 529 overloaded_error lands in the transient fallback, with its type as the code.
    return status_to_error(
        status,
        message,
        code=_error_type(exc.body),
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


class AnthropicProvider(ServesPatterns, LLMProvider):
    """Claude through ``anthropic.AsyncAnthropic``, answering in OpenAI's shape."""

    kind = "anthropic"

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
        try:
            raw = await self.client().messages.with_raw_response.create(**args)
            message = json.loads(await raw.read())
        except anthropic.AnthropicError as exc:
            raise map_anthropic_error(exc, self.name) from exc
        except ValueError as exc:
            raise LLMProviderError(
                "The provider answered with invalid JSON.", provider=self.name
            ) from exc
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
        try:
            async with messages.create(stream=True, **args) as response:
                async for chunk in _event_chunks(response, self.name):
                    yield chunk
        except anthropic.AnthropicError as exc:
            raise map_anthropic_error(exc, self.name) from exc
        except LLMError:
            raise
        except Exception as exc:
            # the HTTP library's own types, not anthropic.AnthropicError: the stream broke.
            raise LLMProviderError(f"The stream broke: {exc}", provider=self.name) from exc

    async def list_models(self) -> list[str]:
        try:
            page = await self.client().models.list(limit=1000)
        except anthropic.AnthropicError as exc:
            logger.warning("provider %s: listing models failed (%s)", self.name, type(exc).__name__)
            return []
        return [m.id for m in page.data]

    async def health_check(self) -> dict[str, Any]:
        """Lists models: free, and proves the endpoint and the key."""
        started = time.monotonic()
        try:
            await self.client().models.list(limit=1)
        except anthropic.AnthropicError as exc:
            error = map_anthropic_error(exc, self.name)
            return {"provider": self.name, "kind": self.kind, "healthy": False, "error": error.code}
        latency = (time.monotonic() - started) * 1000
        return {"provider": self.name, "kind": self.kind, "healthy": True, "latency_ms": latency}


async def _event_chunks(response: Any, provider: str) -> AsyncIterator[StreamChunk]:
    translator = StreamTranslator()
    async for line in response.iter_lines():
        if not line.startswith("data:"):
            continue  # "event:" lines repeat the type that the data carries
        event = json.loads(line[5:].strip())
        if event.get("type") == "error":
            raise _stream_error(event, provider)
        for chunk in translator.feed(event):
            yield chunk
        if translator.finished:
            return
    raise LLMProviderError("The stream ended before it finished.", provider=provider)
