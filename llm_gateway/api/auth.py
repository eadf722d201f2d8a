"""Authentication and admission of API requests (key, body size, model, agent name,
rate limit).

Every endpoint that calls a provider admits its request through
``request_admit``; only what the endpoint reads from its own body differs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Generic, TypeVar

from django.conf import settings

from calls.models import CallStatus
from llm_gateway.api.attribution import request_attribute
from llm_gateway.api.errors import APIError
from llm_gateway.api.http import ApiRequest
from llm_gateway.api.ratelimit_headers import rate_limit_headers
from llm_gateway.attribution import traceparent_parse
from llm_gateway.interface import LLMRequest
from llm_gateway.keys import KeyInfo, gateway_key_authenticate, key_presented
from llm_gateway.ratelimit import LimitDecision, rate_limit_admit, rate_limit_estimate
from llm_gateway.refusals import Refusal, refusal_record

_NO_KEY = (
    "You didn't provide an API key. Provide it in the Authorization header "
    "(Authorization: Bearer YOUR_KEY)."
)
_BAD_KEY = "Incorrect API key provided, or the key is revoked or expired."

Parsed = TypeVar("Parsed")


@dataclass(frozen=True, slots=True)
class Asked(Generic[Parsed]):
    """An endpoint's parsed body and what admission reads from it: the request
    (its attribution is set here), the model, and the body's end user and tags."""

    parsed: Parsed
    request: LLMRequest
    model: str
    user: Any = None
    tags: Any = None
    # Tokens held for the answer when the body names no cap (rate_limit_estimate):
    # None is the chat default; 0 where the operation generates nothing.
    completion_default: int | None = None


@dataclass(frozen=True, slots=True)
class Admission(Generic[Parsed]):
    key: KeyInfo
    asked: Asked[Parsed]
    agent_name: str  # the key's own, or the X-Agent-Name it may claim
    limits: LimitDecision  # the counters for the ``x-ratelimit-*`` headers


async def request_admit(
    request: ApiRequest,
    read: Callable[[bytes], Asked[Parsed]],
    *,
    operation: str,
    presented: str | None = None,
) -> Admission[Parsed]:
    """Admit one API call, the same on every endpoint, cheapest refusal first:
    the key (401), the body (413, 400), the model (403), the agent name (403),
    and only then the rate limit (429), so a refused request never counts
    against the key's limits. ``presented``: a key the endpoint found elsewhere
    than ``Authorization`` (Anthropic's ``x-api-key``)."""
    if presented is None:
        key = await api_key_authenticate(request.headers, request=request, operation=operation)
    else:
        key = await presented_key_authenticate(presented, request=request, operation=operation)
    asked = read(request_body_check(request))
    request_attribute(asked.request, request.headers, user=asked.user, tags=asked.tags)
    model_allowed_check(key, asked.model)
    agent_name = agent_name_check(key, request.headers)
    limits = await rate_limit_check(
        key,
        request=request,
        model=asked.model,
        operation=operation,
        llm_request=asked.request,
        completion_default=asked.completion_default,
    )
    return Admission(key, asked, agent_name, limits)


async def api_key_authenticate(
    headers: Mapping[str, str], *, request: ApiRequest | None = None, operation: str = "chat"
) -> KeyInfo:
    scheme, _, raw = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise APIError(401, _NO_KEY, code="invalid_api_key")
    return await presented_key_authenticate(raw.strip(), request=request, operation=operation)


async def presented_key_authenticate(
    raw: str, *, request: ApiRequest | None = None, operation: str = "chat"
) -> KeyInfo:
    """The key's info, or 401; a refused key whose prefix is real leaves a row."""
    key = await gateway_key_authenticate(raw)
    if key is not None:
        return key
    known = key_presented(raw)
    if known is not None:
        status = CallStatus.UNAUTHORIZED
        await refusal_record(
            _refusal(known, request, status=status, operation=operation, message=_BAD_KEY)
        )
    raise APIError(401, _BAD_KEY, code="invalid_api_key")


def _refusal(
    key: KeyInfo,
    request: ApiRequest | None,
    *,
    status: str,
    operation: str,
    message: str,
    model: str = "",
    limit: str = "",
) -> Refusal:
    unauthorized = status == CallStatus.UNAUTHORIZED
    traced = traceparent_parse(request.headers.get("traceparent", "")) if request else None
    trace_id, parent_id, sampled = traced or ("", "", True)
    return Refusal(
        status=status,
        http_status=401 if unauthorized else 429,
        code="invalid_api_key" if unauthorized else "rate_limit_exceeded",
        message=message,
        key_id=key.id,
        key_prefix=key.prefix,
        agent_name=key.agent_name,
        model=model,
        operation=operation,
        defer=request is not None and request.background_writes,
        metadata={"limit": limit} if limit else {},
        trace_id=trace_id,
        parent_id=parent_id,
        trace_sampled=sampled,
    )


def request_body_check(request: ApiRequest) -> bytes:
    """The body, unless it was over the limit (then 413, before it was read whole)."""
    limit = settings.GATEWAY_MAX_BODY_BYTES
    if request.too_large or len(request.body) > limit:
        raise APIError(
            413, f"Request body too large: the limit is {limit} bytes.", code="request_too_large"
        )
    return request.body


def model_allowed_check(key: KeyInfo, model: str) -> None:
    if key.allowed_models and not any(fnmatchcase(model, p) for p in key.allowed_models):
        raise APIError(
            403,
            f"This key is not allowed to use the model '{model}'.",
            code="model_not_allowed",
            param="model",
        )


def agent_name_check(key: KeyInfo, headers: Mapping[str, str]) -> str:
    """The agent a call is attributed to: the key's own, or the ``X-Agent-Name``
    the key is allowed to claim. Dashboards and agent budgets trust this name,
    so a key must not spend another agent's budget or hide under its name."""
    claimed = headers.get("x-agent-name", "").strip()[:200]
    if not claimed or claimed == key.agent_name:
        return key.agent_name
    if any(fnmatchcase(claimed, pattern) for pattern in key.allowed_agent_names):
        return claimed
    raise APIError(
        403,
        f"This key may not act as the agent '{claimed}'. Ask an administrator to add the "
        "name to the key's allowed agent names, or drop the X-Agent-Name header.",
        code="agent_not_allowed",
    )


async def rate_limit_check(
    key: KeyInfo,
    *,
    request: ApiRequest | None = None,
    model: str = "",
    operation: str = "chat",
    llm_request: LLMRequest | None = None,
    completion_default: int | None = None,
) -> LimitDecision:
    """Count the request and hold its worst-case tokens (from ``llm_request``);
    refuse (429, recorded) when the key's RPM or TPM is spent. The decision
    carries the counters for the ``x-ratelimit-*`` headers."""
    tokens = 0
    if key.tpm_limit and llm_request is not None:
        tokens = rate_limit_estimate(llm_request, completion_default=completion_default)
    decision = await rate_limit_admit(
        key_id=key.id, rpm=key.rpm_limit, tpm=key.tpm_limit, tokens=tokens
    )
    if decision.allowed:
        return decision
    message = (
        f"Rate limit reached for this key ({decision.limit_name} per minute). "
        f"Try again in {decision.retry_after}s."
    )
    status = CallStatus.RATE_LIMITED
    await refusal_record(
        _refusal(
            key,
            request,
            status=status,
            operation=operation,
            message=message,
            model=model,
            limit=decision.limit_name,
        )
    )
    raise APIError(
        429,
        message,
        type="requests" if decision.limit_name == "requests" else "tokens",
        code="rate_limit_exceeded",
        headers={"retry-after": str(decision.retry_after), **rate_limit_headers(decision)},
    )
