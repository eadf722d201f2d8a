"""Last-resort error handling for the machine endpoints (``/v1/``, ``/api/v1/``).

The views answer every refusal and provider failure themselves; this middleware
catches what escapes them, so an agent always gets an OpenAI-shaped JSON error
and never Django's HTML error page. A lost database (restart, failover,
network cut) becomes a retryable 503 ``database_unavailable``: the OpenAI SDK
retries 503s with backoff, and the gateway recovers by itself once the
database is back (the pool checks connections before handing them out).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from psycopg import OperationalError as PsycopgOperationalError

from common.redaction import redact_text
from llm_gateway.api.errors import error_body
from llm_gateway.api.http import ApiResponse, json_response, to_django
from llm_gateway.api.openapi import ALLOWED_METHODS

logger = logging.getLogger(__name__)

API_PREFIXES = ("/v1/", "/api/v1/")
DATABASE_RETRY_AFTER_S = "2"


# psycopg's own error is raised by the pool when no connection can be had in time.
DATABASE_ERRORS = (OperationalError, InterfaceError, PsycopgOperationalError)


def _error(
    status: int, message: str, *, code: str, type: str = "api_error", headers=None
) -> ApiResponse:
    return json_response(error_body(message, type=type, code=code), status, headers)


def database_unavailable_response() -> ApiResponse:
    return _error(
        503,
        "The gateway's database is unavailable; retry shortly.",
        code="database_unavailable",
        headers={"retry-after": DATABASE_RETRY_AFTER_S},
    )


def unexpected_error_response() -> ApiResponse:
    return _error(500, "The gateway had an internal error.", code="internal_error")


def _method_not_allowed(method: str, path: str, allowed: tuple[str, ...]) -> ApiResponse:
    return _error(
        405,
        f"Method {method} is not allowed for {path}; use {', '.join(allowed)}.",
        type="invalid_request_error",
        code="method_not_allowed",
        headers={"allow": ", ".join(allowed)},
    )


class APIExceptionMiddleware:
    """Turns exceptions escaping an API view into OpenAI-shaped JSON errors."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], object]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        return self.get_response(request)  # type: ignore[return-value]

    def process_view(self, request: HttpRequest, view, args, kwargs):
        """An OpenAI-shaped 405 before CSRF could answer a cookie-less POST with HTML."""
        allowed = ALLOWED_METHODS.get(request.path_info)
        if allowed is None:
            return None
        if "GET" in allowed:
            allowed = (*allowed, "HEAD")
        if request.method in allowed:
            return None
        return to_django(_method_not_allowed(request.method, request.path_info, allowed))

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not request.path_info.startswith(API_PREFIXES):
            return None
        if isinstance(exception, DATABASE_ERRORS):
            # The class name only: driver messages can carry the DSN (host, user).
            logger.warning(
                "API %s: database unavailable (%s)", request.path_info, type(exception).__name__
            )
            return to_django(database_unavailable_response())
        logger.error(
            "API %s: unhandled %s: %s",
            request.path_info,
            type(exception).__name__,
            redact_text(str(exception))[:500],
        )
        return to_django(unexpected_error_response())


async def guarded(handler, request) -> ApiResponse:
    """The fast ASGI route's equivalent of this middleware, for ``ApiRequest`` handlers.

    Under the ASGI server the API bypasses Django's middleware (llm_gateway.api.http),
    so the same method check and exception mapping wrap the handler here.
    """
    allowed = ALLOWED_METHODS.get(request.path)
    if allowed is not None:
        allowed = (*allowed, "HEAD") if "GET" in allowed else allowed
        if request.method not in allowed:
            return _method_not_allowed(request.method, request.path, allowed)
    try:
        return await handler(request)
    except DATABASE_ERRORS as exception:
        logger.warning("API %s: database unavailable (%s)", request.path, type(exception).__name__)
        return database_unavailable_response()
    except Exception as exception:  # noqa: BLE001 - the agent gets JSON, never a bare 500
        logger.error(
            "API %s: unhandled %s: %s",
            request.path,
            type(exception).__name__,
            redact_text(str(exception))[:500],
        )
        return unexpected_error_response()
