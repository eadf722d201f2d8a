"""Authentication and admission of API requests (key, body size, model, rate limit)."""

from __future__ import annotations

from fnmatch import fnmatchcase

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from django.http.request import RawPostDataException

from llm_gateway.api.errors import APIError
from llm_gateway.keys import KeyInfo, gateway_key_authenticate
from llm_gateway.ratelimit import rate_limit_admit

_NO_KEY = (
    "You didn't provide an API key. Provide it in the Authorization header "
    "(Authorization: Bearer YOUR_KEY)."
)
_BAD_KEY = "Incorrect API key provided, or the key is revoked or expired."


async def api_key_authenticate(request: HttpRequest) -> KeyInfo:
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise APIError(401, _NO_KEY, code="invalid_api_key")
    key = await gateway_key_authenticate(raw.strip())
    if key is None:
        raise APIError(401, _BAD_KEY, code="invalid_api_key")
    return key


def request_body_read(request: HttpRequest) -> bytes:
    """The body, refusing oversized ones before and after reading."""
    limit = settings.GATEWAY_MAX_BODY_BYTES
    too_big = APIError(
        413, f"Request body too large: the limit is {limit} bytes.", code="request_too_large"
    )
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise too_big
    try:
        body = request.body
    except (RequestDataTooBig, RawPostDataException):
        raise too_big from None
    if len(body) > limit:
        raise too_big
    return body


def model_allowed_check(key: KeyInfo, model: str) -> None:
    if key.allowed_models and not any(fnmatchcase(model, p) for p in key.allowed_models):
        raise APIError(
            403,
            f"This key is not allowed to use the model '{model}'.",
            type="invalid_request_error",
            code="model_not_allowed",
            param="model",
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
