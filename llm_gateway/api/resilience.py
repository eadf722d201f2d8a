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

from llm_gateway.api.errors import error_response
from llm_gateway.api.openapi import ALLOWED_METHODS
from llm_gateway.redaction import redact_text

logger = logging.getLogger(__name__)

API_PREFIXES = ("/v1/", "/api/v1/")
DATABASE_RETRY_AFTER_S = "2"


def _database_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OperationalError, InterfaceError]
    try:  # raised by the pool itself when no connection can be had in time
        from psycopg import OperationalError as PsycopgOperationalError

        errors.append(PsycopgOperationalError)
    except ImportError:  # pragma: no cover - psycopg is a dependency, but SQLite needs none
        pass
    return tuple(errors)


DATABASE_ERRORS = _database_errors()


def database_unavailable_response() -> HttpResponseBase:
    return error_response(
        503,
        "The gateway's database is unavailable; retry shortly.",
        type="api_error",
        code="database_unavailable",
        headers={"retry-after": DATABASE_RETRY_AFTER_S},
    )


def unexpected_error_response() -> HttpResponseBase:
    return error_response(
        500, "The gateway had an internal error.", type="api_error", code="internal_error"
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
        return error_response(
            405,
            f"Method {request.method} is not allowed for {request.path_info}; "
            f"use {', '.join(allowed)}.",
            code="method_not_allowed",
            headers={"allow": ", ".join(allowed)},
        )

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not request.path_info.startswith(API_PREFIXES):
            return None
        if isinstance(exception, DATABASE_ERRORS):
            # The class name only: driver messages can carry the DSN (host, user).
            logger.warning(
                "API %s: database unavailable (%s)", request.path_info, type(exception).__name__
            )
            return database_unavailable_response()
        logger.error(
            "API %s: unhandled %s: %s",
            request.path_info,
            type(exception).__name__,
            redact_text(str(exception))[:500],
        )
        return unexpected_error_response()
