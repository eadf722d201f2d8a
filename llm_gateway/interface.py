"""Request/response types, the provider base class and the error hierarchy.

These are the seed's names, kept so existing agents keep working. Providers
speak OpenAI's chat format inside the gateway; each provider translates at its
own edge.
"""

from __future__ import annotations

import abc
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass
class TokenUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    estimated_cost: Decimal = field(default_factory=lambda: Decimal("0"))

    @classmethod
    def from_openai(cls, usage: dict[str, Any] | None) -> TokenUsage:
        if not usage:
            return cls()
        details = usage.get("prompt_tokens_details") or {}
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        return cls(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=int(usage.get("total_tokens") or prompt + completion),
            cached_tokens=int(details.get("cached_tokens") or 0),
        )


@dataclass
class LLMRequest:
    """One chat request. ``prompt`` is the seed's shorthand for a single user turn.

    ``extra`` carries every other OpenAI parameter (tools, seed, stop, top_p, …)
    untouched, so the HTTP API can forward a body it does not fully model.
    """

    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    response_format: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    agent_name: str | None = None
    system_prompt: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # True for bodies relayed from the HTTP API: send what the agent sent, and
    # do not add the gateway's default temperature to it.
    passthrough: bool = False
    # Attribution (llm_gateway.attribution): the session or agent run, the
    # caller's trace (W3C Trace Context ids), the step, the end user, free tags.
    session_id: str | None = None
    trace_id: str | None = None
    parent_id: str | None = None
    step: str | None = None
    end_user: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    trace_sampled: bool = True
    # Extra HTTP headers for the provider (the gateway's own ``traceparent``).
    upstream_headers: dict[str, str] = field(default_factory=dict)

    def to_messages(self) -> list[dict[str, Any]]:
        if self.messages:
            return list(self.messages)
        messages: list[dict[str, Any]] = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.append({"role": "user", "content": self.prompt or ""})
        return messages

    def with_model(self, model: str) -> LLMRequest:
        clone = LLMRequest(**{**self.__dict__})
        clone.model = model
        return clone


@dataclass
class LLMResponse:
    content: str
    model: str
    provider: str
    token_usage: TokenUsage = field(default_factory=TokenUsage)
    response_time: float = 0.0
    finish_reason: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # The provider's answer in OpenAI chat.completion shape, for the HTTP API.
    raw: dict[str, Any] | None = None
    provider_kind: str = ""


@dataclass
class StreamChunk:
    """One streamed piece. ``raw`` is the OpenAI chunk; ``usage`` only on the last."""

    delta: str = ""
    raw: dict[str, Any] | None = None
    finish_reason: str | None = None
    usage: TokenUsage | None = None
    model: str | None = None
    # The chunk's JSON exactly as the provider sent it: relayed without re-encoding.
    raw_json: str | None = None


# --- Errors -------------------------------------------------------------------


class LLMError(Exception):
    """Base of every gateway error. ``permanent`` errors are never retried."""

    permanent = False
    http_status = 502
    error_type = "api_error"
    code: str | None = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status_code = status_code
        self.retry_after = retry_after
        if code is not None:
            self.code = code


class LLMAuthenticationError(LLMError):
    permanent = True
    http_status = 502  # the provider rejected *our* key: not the caller's fault
    error_type = "api_error"
    code = "provider_authentication_error"


class LLMRateLimitError(LLMError):
    http_status = 429
    error_type = "requests"
    code = "rate_limit_exceeded"


class LLMQuotaExceededError(LLMError):
    permanent = True
    http_status = 429
    error_type = "insufficient_quota"
    code = "insufficient_quota"


class LLMTimeoutError(LLMError):
    http_status = 504
    error_type = "api_error"
    code = "timeout"


class LLMProviderError(LLMError):
    """5xx, connection failures and other provider-side trouble (retryable)."""


class LLMInvalidRequestError(LLMProviderError):
    """The provider refused the request itself (400): retrying cannot help."""

    permanent = True
    http_status = 400
    error_type = "invalid_request_error"
    code = "invalid_request_error"


class LLMModelNotFoundError(LLMInvalidRequestError):
    http_status = 404
    code = "model_not_found"


class LLMBudgetExceededError(LLMError):
    permanent = True
    http_status = 429
    error_type = "insufficient_quota"
    code = "budget_exceeded"


# Statuses where the provider refused the request itself: retrying cannot help.
INVALID_REQUEST_STATUSES = frozenset({400, 409, 413, 422})


def status_to_error(
    status: int,
    message: str,
    *,
    code: str | None,
    retry_after: float | None,
    provider: str,
) -> LLMError:
    """The gateway error for a provider's HTTP error status.

    The table the SDK providers share; each checks its own special cases (a
    quota named by code or message, a status it reads differently) first.
    ``code`` is the provider's error code, kept on a refused request and on the
    transient fallback; None keeps the gateway's own code.
    """
    kwargs: dict[str, Any] = {"provider": provider, "status_code": status}
    if status in (401, 403):
        return LLMAuthenticationError(message, **kwargs)
    if status == 429:
        return LLMRateLimitError(message, retry_after=retry_after, **kwargs)
    if status == 404:
        return LLMModelNotFoundError(message, **kwargs)
    if status in INVALID_REQUEST_STATUSES:
        return LLMInvalidRequestError(message, code=code, **kwargs)
    if status == 408:
        return LLMTimeoutError(message, **kwargs)
    # 5xx and anything unexpected: transient, retried and failed over.
    return LLMProviderError(message, retry_after=retry_after, code=code, **kwargs)


# --- Providers ------------------------------------------------------------------


class LLMProvider(abc.ABC):
    """A backend that answers chat requests in OpenAI's shape.

    Subclasses implement one attempt (``complete``/``stream``); retries live in
    :mod:`llm_gateway.retry` so the provider used alone and the manager share them.
    """

    name: str = "provider"
    kind: str = "openai"
    default_model: str = ""
    max_retries: int = 0
    timeout: float = 60.0

    def serves(self, model: str) -> bool:
        """Whether this provider should be asked for ``model`` (all, by default)."""
        return True

    @abc.abstractmethod
    async def complete(self, request: LLMRequest) -> LLMResponse:
        """One attempt, no retries."""

    @abc.abstractmethod
    def stream(self, request: LLMRequest) -> AsyncIterator[StreamChunk]:
        """One streamed attempt; the last chunk carries the usage."""

    async def generate_response(self, request: LLMRequest) -> LLMResponse:
        """The seed's call: retries transient errors, prices the answer."""
        from costs.pricing import aprice_for, call_cost
        from llm_gateway.retry import RetryPolicy, call_with_retries

        started = time.monotonic()
        policy = RetryPolicy(max_retries=self.max_retries, deadline=started + self.timeout)
        response, retries = await call_with_retries(lambda: self.complete(request), policy)
        price = await aprice_for(response.model, provider=self.kind)
        usage = response.token_usage
        usage.estimated_cost = call_cost(
            price,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
        )
        response.response_time = time.monotonic() - started
        response.metadata.setdefault("retries", retries)
        return response

    async def stream_response(self, request: LLMRequest) -> AsyncIterator[StreamChunk]:
        async for chunk in self.stream(request):
            yield chunk

    async def list_models(self) -> list[str]:
        """Model names the provider reports, where it can say (never a completion)."""
        return []

    async def health_check(self) -> dict[str, Any]:
        """A check that costs nothing: never a completion."""
        return {"provider": self.name, "kind": self.kind, "healthy": True}
