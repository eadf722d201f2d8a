"""OpenAI-shaped error responses.

Agents use the OpenAI SDK, which reads ``{"error": {message, type, param, code}}``
and decides from the status (and ``x-should-retry``) whether to retry; matching
that shape exactly is what makes the gateway a drop-in ``base_url``.
"""

from __future__ import annotations

from common.redaction import redact_text
from llm_gateway.api.http import ApiResponse, json_response
from llm_gateway.interface import LLMAuthenticationError, LLMError
from llm_gateway.provider_errors import answered_status, provider_error_object


class APIError(Exception):
    """A refusal decided by the gateway itself, before or instead of a provider call."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type = status, message, type
        self.code, self.param, self.headers = code, param, headers or {}

    def api_response(self) -> ApiResponse:
        body = error_body(self.message, type=self.type, code=self.code, param=self.param)
        return json_response(body, self.status, self.headers)


def error_body(message: str, *, type: str, code: str | None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error_api_response(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
) -> ApiResponse:
    return json_response(error_body(message, type=type, code=code, param=param), status)


def llm_error_payload(error: LLMError) -> tuple[int, dict, dict[str, str]]:
    """Status, body and headers for a provider-side failure."""
    message = redact_text(error.message)
    if isinstance(error, LLMAuthenticationError):
        # The provider's text can echo part of *our* key; say only what happened.
        message = "The gateway's credentials for the provider were rejected."
    headers: dict[str, str] = {}
    if error.code == "budget_exceeded":
        headers["x-should-retry"] = "false"
    elif error.retry_after is not None:
        headers["retry-after"] = str(max(1, round(error.retry_after)))
    relayed = provider_error_object(error)
    if relayed is not None:  # the provider's refusal, as it wrote it
        relayed["message"] = redact_text(str(relayed["message"] or message))
        return answered_status(error), {"error": relayed}, headers
    body = error_body(message, type=error.error_type, code=error.code)
    return error.http_status, body, headers


def llm_error_api_response(
    error: LLMError, extra_headers: dict[str, str] | None = None
) -> ApiResponse:
    status, body, headers = llm_error_payload(error)
    return json_response(body, status, {**headers, **(extra_headers or {})})
