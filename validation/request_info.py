"""Normalise the many shapes a gateway request can take into what the validator needs.

Callers hand us an OpenAI-style dict, an SDK/pydantic object or a Django model; the
validator only cares about the last user prompt, ``max_tokens`` and ``response_format``, so
this module is the single place that knows about those shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

JSON_RESPONSE_TYPES = frozenset({"json_object", "json_schema"})


@dataclass(frozen=True, slots=True)
class RequestInfo:
    prompt: str = ""
    max_tokens: int | None = None
    response_format: Mapping[str, Any] | None = None

    @property
    def wants_json(self) -> bool:
        return _get(self.response_format, "type") in JSON_RESPONSE_TYPES

    @property
    def json_schema(self) -> Any:
        """The schema of a ``json_schema`` response_format, if the request carried one."""
        if _get(self.response_format, "type") != "json_schema":
            return None
        schema = _get(_get(self.response_format, "json_schema"), "schema")
        return None if callable(schema) else schema  # pydantic models expose .schema()


def _get(source: Any, key: str, default: Any = None) -> Any:
    if source is None:
        return default
    if isinstance(source, Mapping):
        return source.get(key, default)
    return getattr(source, key, default)


def _text_of(content: Any) -> str:
    """Message content is a string or a list of parts (text, image, ...); keep the text."""
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        parts = (_get(part, "text") if not isinstance(part, str) else part for part in content)
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def _last_user_prompt(messages: Any) -> str:
    if not isinstance(messages, (list, tuple)):
        return ""
    for message in reversed(messages):
        if _get(message, "role", "user") == "user":
            return _text_of(_get(message, "content"))
    return ""


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def request_info(request: Any) -> RequestInfo:
    """Build a :class:`RequestInfo`; anything unrecognised degrades to 'no request'."""
    if request is None:
        return RequestInfo()
    prompt = _last_user_prompt(_get(request, "messages")) or _text_of(_get(request, "prompt"))
    max_tokens = _get(request, "max_tokens")
    if max_tokens is None:
        max_tokens = _get(request, "max_completion_tokens")
    response_format = _get(request, "response_format")
    if response_format is not None and not isinstance(response_format, Mapping):
        response_format = _object_format(response_format)
    return RequestInfo(prompt, _as_int(max_tokens), response_format)


def _object_format(response_format: Any) -> Mapping[str, Any] | None:
    """SDK objects expose ``type``/``json_schema`` attributes; keep them as a mapping."""
    kind = getattr(response_format, "type", None)
    if kind is None:
        return None
    return {"type": kind, "json_schema": getattr(response_format, "json_schema", None)}
