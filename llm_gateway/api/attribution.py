"""Attribution headers, read the same way by every endpoint.

Each endpoint calls ``request_attribute`` once it has its ``LLMRequest``:

    request_attribute(llm_request, request.headers, **openai_body_hints(body))

``x-gateway-session-id``, ``traceparent`` / ``x-gateway-trace-id``,
``x-gateway-parent-id``, ``x-gateway-step``, ``x-gateway-user`` and
``x-gateway-tag-<name>``. The body's own user and tags (OpenAI's ``user`` /
``safety_identifier`` and ``metadata``; Anthropic's ``metadata.user_id``) come
in as hints: a header wins over the body, and a hint that breaks the limits is
left out rather than refused, since the body is the provider's to judge (it is
forwarded as sent) and a request its API accepts must not fail here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llm_gateway.api.errors import APIError
from llm_gateway.attribution import (
    MAX_END_USER,
    MAX_SESSION_ID,
    MAX_STEP,
    Attribution,
    AttributionError,
    attribution_apply,
    span_id_check,
    tags_check,
    text_check,
    trace_id_check,
    traceparent_parse,
)
from llm_gateway.interface import LLMRequest

TAG_PREFIX = "x-gateway-tag-"


def request_attribute(
    request: LLMRequest,
    headers: Mapping[str, str],
    *,
    user: Any = None,
    tags: Any = None,
) -> None:
    """Parse the attribution headers onto ``request``; a bad value is a 400
    naming the header (or tag)."""
    try:
        attribution_apply(request, attribution_parse(headers, user=user, tags=tags))
    except AttributionError as error:
        raise APIError(400, error.message, param=error.param, code="invalid_attribution") from None


def attribution_parse(
    headers: Mapping[str, str], *, user: Any = None, tags: Any = None
) -> Attribution:
    found = Attribution(
        session_id=text_check(
            headers.get("x-gateway-session-id"), "x-gateway-session-id", MAX_SESSION_ID
        ),
        step=text_check(headers.get("x-gateway-step"), "x-gateway-step", MAX_STEP),
        end_user=_end_user(headers, user),
        tags=_tags(headers, tags),
    )
    traced = traceparent_parse(headers.get("traceparent", ""))
    if traced is not None:
        found.trace_id, found.parent_id, found.trace_sampled = traced
        return found
    if raw := headers.get("x-gateway-trace-id", "").strip():
        found.trace_id = trace_id_check(raw, "x-gateway-trace-id")
    if raw := headers.get("x-gateway-parent-id", "").strip():
        found.parent_id = span_id_check(raw, "x-gateway-parent-id")
    return found


def _end_user(headers: Mapping[str, str], hint: Any) -> str | None:
    if header := headers.get("x-gateway-user"):
        return text_check(header, "x-gateway-user", MAX_END_USER)
    if isinstance(hint, str) and len(hint.strip()) <= MAX_END_USER:
        return text_check(hint, "user", MAX_END_USER)
    return None  # no hint, or one too long to be a user id: not taken


def _tags(headers: Mapping[str, str], body_tags: Any) -> dict[str, str]:
    """The headers' tags (refused when over the limits) over the body's, which
    are taken only while the union stays within them."""
    tags = tags_check(
        {
            name[len(TAG_PREFIX) :]: value.strip()
            for name, value in headers.items()
            if name.startswith(TAG_PREFIX)
        }
    )
    if not isinstance(body_tags, dict) or not body_tags:
        return tags
    try:
        return tags_check({**body_tags, **tags})
    except AttributionError:
        return tags


def openai_body_hints(body: Mapping[str, Any]) -> dict[str, Any]:
    """The end user and tags an OpenAI-shaped body carries: ``user`` (else
    ``safety_identifier``) and ``metadata``."""
    user = body.get("user") or body.get("safety_identifier")
    return {"user": user, "tags": body.get("metadata")}
