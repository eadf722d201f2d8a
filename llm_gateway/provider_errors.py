"""What the caller is told about a provider's failure: status and error object.

A provider's refusal of the request itself (400, 404, 409, 413, 422, 429…)
goes back as the provider sent it (status, message, type, param, code), so an
agent reads exactly what it would have read without the gateway. A rejected
provider key (401/403) is the gateway's problem, not the caller's: that stays a
502 in the gateway's words, as do outages (502) and timeouts (504).
"""

from __future__ import annotations

from typing import Any

from llm_gateway.interface import LLMAuthenticationError, LLMError

_OURS = (401, 403)


def relays_provider_error(error: LLMError) -> bool:
    status = error.status_code or 0
    return (
        error.upstream_error is not None
        and 400 <= status < 500
        and status not in _OURS
        and not isinstance(error, LLMAuthenticationError)
    )


def answered_status(error: LLMError) -> int:
    """The HTTP status the caller gets (and the call log keeps) for ``error``."""
    if relays_provider_error(error):
        return int(error.status_code or error.http_status)
    return error.http_status


def provider_error_object(error: LLMError) -> dict[str, Any] | None:
    """The provider's own error object when it is relayed, else None."""
    if not relays_provider_error(error):
        return None
    shape = dict(error.upstream_error or {})
    shape.setdefault("type", error.error_type)
    shape["type"] = shape.get("type") or error.error_type
    return {key: shape.get(key) for key in ("message", "type", "param", "code")}
