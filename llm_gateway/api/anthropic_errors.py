"""Anthropic-shaped error responses for ``/v1/messages``.

The official ``anthropic`` SDK reads ``{"type": "error", "error": {type, message}}``
and picks its exception class from the status, so the gateway's refusals and
the providers' failures keep their status and only change their shape here.
``x-should-retry`` is honoured by that SDK too (a spent budget says false).
"""

from __future__ import annotations

from llm_gateway.api.errors import APIError, llm_error_payload
from llm_gateway.api.http import ApiResponse, json_response
from llm_gateway.interface import LLMError

# Anthropic's error types by status (https://docs.anthropic.com/en/api/errors).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
KNOWN_TYPES = frozenset(ERROR_TYPES.values())


def anthropic_error_body(message: str, *, type: str) -> dict:
    return {"type": "error", "error": {"type": type, "message": message}}


def anthropic_error_response(
    status: int, message: str, *, type: str | None = None, headers: dict[str, str] | None = None
) -> ApiResponse:
    kind = type or ERROR_TYPES.get(status, "api_error")
    return json_response(anthropic_error_body(message, type=kind), status, headers)


def anthropic_refusal_response(refusal: APIError) -> ApiResponse:
    """A gateway refusal (key, body, model, rate limit) in Anthropic's shape."""
    return anthropic_error_response(refusal.status, refusal.message, headers=refusal.headers)


def anthropic_llm_error_payload(error: LLMError) -> tuple[int, dict, dict[str, str]]:
    """Status, body and headers for a provider-side failure (or a spent budget)."""
    status, body, headers = llm_error_payload(error)
    message = body["error"]["message"]
    if error.code == "budget_exceeded":
        kind = "billing_error"  # not a rate: retrying will not help (x-should-retry: false)
    elif error.code in KNOWN_TYPES:
        kind = error.code  # Anthropic's own type, kept from its answer
    else:
        kind = ERROR_TYPES.get(status, "api_error")
    return status, anthropic_error_body(message, type=kind), headers


def anthropic_llm_error_response(error: LLMError, extra: dict[str, str]) -> ApiResponse:
    status, body, headers = anthropic_llm_error_payload(error)
    return json_response(body, status, {**headers, **extra})
