"""Attribution of a call: session, trace, step, end user and free tags.

One set of rules for both entry points: the HTTP API reads them from headers
(``llm_gateway.api.attribution``), the Python API from ``LLMRequest`` fields,
and both are checked here before anything reaches a provider. The limits keep
the indexed columns small and the tag JSON bounded (it is GIN-indexed on
PostgreSQL), and a refusal names the offending value so the agent's author can
fix it without reading our docs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any

MAX_SESSION_ID = 200
MAX_STEP = 200
MAX_END_USER = 256
MAX_TAGS = 20
MAX_TAG_NAME = 64
MAX_TAG_VALUE = 256

_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
# version-traceid-parentid-flags; a future version may append fields after a dash.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")


class AttributionError(ValueError):
    """A refused attribution value; ``param`` names it (header or field)."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message, self.param = message, param


@dataclass
class Attribution:
    session_id: str | None = None
    trace_id: str | None = None
    parent_id: str | None = None
    step: str | None = None
    end_user: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    trace_sampled: bool = True


_FIELDS = tuple(f.name for f in fields(Attribution))


def traceparent_parse(value: str) -> tuple[str, str, bool] | None:
    """(trace id, parent span id, sampled) from a W3C ``traceparent``, or None.

    An invalid header is ignored rather than refused, as Trace Context asks:
    the call then starts a trace of its own.
    """
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace_id, parent_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return trace_id, parent_id, bool(int(flags, 16) & 1)


def traceparent_format(trace_id: str, span_id: str, sampled: bool = True) -> str:
    return f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


def trace_id_check(value: str, param: str) -> str:
    return _hex_id_check(value, param, _TRACE_ID, "trace")


def span_id_check(value: str, param: str) -> str:
    return _hex_id_check(value, param, _SPAN_ID, "span")


def _hex_id_check(value: str, param: str, pattern: re.Pattern[str], kind: str) -> str:
    """A Trace Context id, lower-cased; all zeros is invalid there too."""
    normal = value.strip().lower()
    size = 32 if kind == "trace" else 16
    if not pattern.fullmatch(normal) or normal == "0" * size:
        raise AttributionError(
            f"{param} must be {size} hexadecimal characters (a W3C Trace Context {kind} id).",
            param,
        )
    return normal


def text_check(value: Any, param: str, limit: int) -> str | None:
    """A short label: a string of at most ``limit`` characters; blank means none."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise AttributionError(f"{param} must be a string.", param)
    value = value.strip()
    if len(value) > limit:
        raise AttributionError(f"{param} is too long: at most {limit} characters.", param)
    return value or None


def tags_check(tags: Any, param: str = "tags") -> dict[str, str]:
    """At most 20 string tags, names up to 64 characters, values up to 256."""
    if not tags:
        return {}
    if not isinstance(tags, dict):
        raise AttributionError(f"{param} must be an object of string values.", param)
    if len(tags) > MAX_TAGS:
        extra = list(tags)[MAX_TAGS]
        raise AttributionError(
            f"Too many tags: at most {MAX_TAGS} per call (tag '{extra[:MAX_TAG_NAME]}' is one "
            "too many).",
            param,
        )
    for name, value in tags.items():
        _tag_check(name, value, param)
    return dict(tags)


def _tag_check(name: Any, value: Any, param: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise AttributionError("A tag needs a non-empty name.", param)
    if len(name) > MAX_TAG_NAME:
        raise AttributionError(
            f"Tag '{name[:MAX_TAG_NAME]}…' has too long a name: at most {MAX_TAG_NAME} characters.",
            param,
        )
    if not isinstance(value, str):
        raise AttributionError(f"Tag '{name}' must have a string value.", param)
    if len(value) > MAX_TAG_VALUE:
        raise AttributionError(
            f"Tag '{name}' has too long a value: at most {MAX_TAG_VALUE} characters.", param
        )


def request_attribution_check(request: Any) -> None:
    """Check (and normalise) an ``LLMRequest``'s attribution fields in place:
    the Python API's counterpart of the HTTP headers' parsing."""
    request.session_id = text_check(request.session_id, "session_id", MAX_SESSION_ID)
    request.step = text_check(request.step, "step", MAX_STEP)
    request.end_user = text_check(request.end_user, "end_user", MAX_END_USER)
    if request.trace_id:
        request.trace_id = trace_id_check(request.trace_id, "trace_id")
    if request.parent_id:
        request.parent_id = span_id_check(request.parent_id, "parent_id")
    request.tags = tags_check(request.tags)


def attribution_apply(request: Any, attribution: Attribution) -> None:
    """Copy parsed attribution onto an ``LLMRequest`` (same field names)."""
    for name in _FIELDS:
        setattr(request, name, getattr(attribution, name))
