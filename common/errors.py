"""The gateway's error hierarchy (public home: ``llm_gateway.interface``).

Kept below every app because costs raises the budget refusal itself, and the
HTTP API, the manager and the providers all map to and from these.
"""

from __future__ import annotations

from typing import Any


class LLMError(Exception):
    """Base of every gateway error. ``permanent`` errors are never retried."""

    permanent = False
    http_status = 502
    error_type = "api_error"
    code: str | None = "provider_error"
    # The provider's own error object (message, type, param, code), when it sent one.
    upstream_error: dict[str, Any] | None = None

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
