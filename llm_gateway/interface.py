"""Request/response types, the provider base class and the error hierarchy.

These are the seed's names, kept so existing agents keep working. Providers
speak OpenAI's chat format inside the gateway; each provider translates at its
own edge.
"""

from __future__ import annotations

import abc
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

# The error hierarchy lives below every app (costs raises the budget refusal);
# this module stays its public home for callers.
from common.errors import (
    INVALID_REQUEST_STATUSES,
    LLMAuthenticationError,
    LLMBudgetExceededError,
    LLMError,
    LLMInvalidRequestError,
    LLMModelNotFoundError,
    LLMProviderError,
    LLMQuotaExceededError,
    LLMRateLimitError,
    LLMTimeoutError,
    status_to_error,
)
from llm_gateway.retry import RetryPolicy, call_with_retries

__all__ = [
    "INVALID_REQUEST_STATUSES",
    "LLMAuthenticationError",
    "LLMBudgetExceededError",
    "LLMError",
    "LLMInvalidRequestError",
    "LLMModelNotFoundError",
    "LLMProvider",
    "LLMProviderError",
    "LLMQuotaExceededError",
    "LLMRateLimitError",
    "LLMRequest",
    "LLMResponse",
    "LLMTimeoutError",
    "StreamChunk",
    "TokenUsage",
    "status_to_error",
]


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
class NativeBody:
    """A request in a provider's own protocol (``"anthropic"``: the Messages API),
    relayed as is by the providers that speak it, so nothing is lost to a
    translation round trip and fields the gateway does not read still arrive."""

    protocol: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)  # e.g. anthropic-beta


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
    # Set for a body in a provider's own protocol; then only providers that
    # speak it may serve the request (``LLMProvider.protocols``).
    native: NativeBody | None = None
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
    # The gateway's id of the call, set per attempt by the manager: the SDK's
    # idempotency key, so one id is drawn per call instead of one more per request.
    call_id: str | None = None

    @property
    def protocol(self) -> str:
        return self.native.protocol if self.native is not None else "openai"

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
    # ``raw`` exactly as the provider sent it: relayed without encoding it again.
    raw_json: bytes | None = None


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


# --- Pricing the seed's provider call ---------------------------------------------

# (model, provider kind, usage) -> USD. Prices belong to costs, which providers
# never import: the gateway app registers costs' pricer here when it is ready.
UsagePricer = Callable[[str, str, "TokenUsage"], Awaitable[Decimal]]


class _Pricing:
    usage_cost: UsagePricer | None = None


def usage_pricer_register(pricer: UsagePricer) -> None:
    _Pricing.usage_cost = pricer


# --- Providers ------------------------------------------------------------------


class LLMProvider(abc.ABC):
    """A backend that answers chat requests in OpenAI's shape.

    Subclasses implement one attempt (``complete``/``stream``); retries live in
    :mod:`llm_gateway.retry` so the provider used alone and the manager share them.
    """

    name: str = "provider"
    kind: str = "openai"
    # Request protocols it answers: OpenAI's chat format, and its own if it relays one.
    protocols: frozenset[str] = frozenset({"openai"})
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
        started = time.monotonic()
        policy = RetryPolicy(max_retries=self.max_retries, deadline=started + self.timeout)
        response, retries = await call_with_retries(lambda: self.complete(request), policy)
        usage = response.token_usage
        if _Pricing.usage_cost is not None:
            usage.estimated_cost = await _Pricing.usage_cost(response.model, self.kind, usage)
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
