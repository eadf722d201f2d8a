"""The OpenAI SDK's wire details shared by every OpenAI-shaped provider call:
its errors in the gateway's hierarchy, JSON parsing, and draining a body.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import jiter
import openai

from llm_gateway.interface import (
    INVALID_REQUEST_STATUSES,
    LLMError,
    LLMProviderError,
    LLMQuotaExceededError,
    status_to_error,
)
from llm_gateway.providers.sdk_base import map_sdk_error, retry_after_seconds


def _error_code(exc: openai.APIStatusError) -> str | None:
    inner = _error_object(exc) or {}
    return inner.get("code") or inner.get("type")


def _error_object(exc: openai.APIStatusError) -> dict[str, Any] | None:
    """The provider's ``error`` object (the SDK keeps the inner one, or the whole body)."""
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    return body if isinstance(body, dict) else None


def provider_error_shape(exc: openai.APIStatusError) -> dict[str, Any] | None:
    """The error as the provider wrote it, for the caller: its own message (the
    SDK prefixes "Error code: 400 - " and the whole body), type, param and code."""
    inner = _error_object(exc)
    if inner is None:
        return None
    message = inner.get("message")
    return {
        "message": message if isinstance(message, str) else exc.message,
        "type": inner.get("type") if isinstance(inner.get("type"), str) else None,
        "param": inner.get("param"),
        "code": inner.get("code"),
    }


def map_openai_error(exc: Exception, provider: str) -> LLMError:
    """Translate the SDK's exceptions into the gateway's hierarchy."""
    return map_sdk_error(openai, exc, provider, _status_error)


def _status_error(exc: openai.APIStatusError, provider: str) -> LLMError:
    status, code, shape = exc.status_code, _error_code(exc), provider_error_shape(exc)
    message = shape["message"] if shape else exc.message
    if status == 429 and code == "insufficient_quota":
        error: LLMError = LLMQuotaExceededError(message, provider=provider, status_code=status)
    else:
        error = status_to_error(
            status,
            message,
            # OpenAI's code travels only with a refused request; a 5xx keeps "provider_error".
            code=code if status in INVALID_REQUEST_STATUSES else None,
            retry_after=retry_after_seconds(exc.response.headers),
            provider=provider,
        )
    error.upstream_error = shape
    return error


def json_loads(data: bytes) -> Any:
    """jiter (the SDK's parser) takes a third of json.loads' time per chunk, but
    refuses a lone surrogate escape, which json.loads accepts: keep the answer."""
    try:
        return jiter.from_json(data)
    except ValueError:
        return json.loads(data)


# How long to wait, after ``[DONE]``, for the end of the HTTP body. A body read to
# its end puts the connection back in the pool; one closed early costs the next
# stream a new TCP connection (measured: every stream reconnected).
_DRAIN_SECONDS = 0.5


async def drained(blocks: AsyncIterator[bytes]) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_DRAIN_SECONDS):
            async for _ in blocks:
                pass


async def sdk_stream(
    opened: Any, read: Callable[[Any], AsyncIterator[Any]], provider: str
) -> AsyncIterator[Any]:
    """Items of an SDK streaming response (``with_streaming_response``), with every
    failure in the gateway's hierarchy: the SDK's errors mapped, and the HTTP
    library's own (not openai.OpenAIError) all meaning "the stream broke"."""
    try:
        async with opened as response:
            async for item in read(response):
                yield item
    except openai.OpenAIError as exc:
        raise map_openai_error(exc, provider) from exc
    except LLMError:
        raise
    except Exception as exc:
        raise LLMProviderError(f"The stream broke: {exc}", provider=provider) from exc
