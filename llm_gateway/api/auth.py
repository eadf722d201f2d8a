"""Authentication and admission of API requests (key, body size, model, rate limit)."""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase

from django.conf import settings

from llm_gateway.api.errors import APIError
from llm_gateway.api.http import ApiRequest
from llm_gateway.keys import KeyInfo, gateway_key_authenticate
from llm_gateway.ratelimit import rate_limit_admit

_NO_KEY = (
    "You didn't provide an API key. Provide it in the Authorization header "
    "(Authorization: Bearer YOUR_KEY)."
)
_BAD_KEY = "Incorrect API key provided, or the key is revoked or expired."


async def api_key_authenticate(headers: Mapping[str, str]) -> KeyInfo:
    scheme, _, raw = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise APIError(401, _NO_KEY, code="invalid_api_key")
    key = await gateway_key_authenticate(raw.strip())
    if key is None:
        raise APIError(401, _BAD_KEY, code="invalid_api_key")
    return key


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


async def rate_limit_check(key: KeyInfo) -> None:
    decision = await rate_limit_admit(key_id=key.id, rpm=key.rpm_limit, tpm=key.tpm_limit)
    if not decision.allowed:
        raise APIError(
            429,
            f"Rate limit reached for this key ({decision.limit_name} per minute). "
            f"Try again in {decision.retry_after}s.",
            type="requests" if decision.limit_name == "requests" else "tokens",
            code="rate_limit_exceeded",
            headers={"retry-after": str(decision.retry_after)},
        )
