"""Validation of chat completion bodies, before anything reaches a provider.

Hand-written rather than a schema library: it runs on every request, the rules
are few, and each failure needs OpenAI's wording and ``param``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from common.redaction import unstorable
from llm_gateway.api.errors import APIError
from llm_gateway.interface import LLMRequest

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MAX_MODEL_NAME = 200
# OpenAI's own bound on ``n``: a larger value would be forwarded and billed n times.
MAX_CHOICES = 128
# No OpenAI body comes near it (tool schemas nest ~10 deep); far deeper bodies
# only exist to exhaust a parser's recursion (then a 500), so they are refused.
MAX_NESTING = 64
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = re.compile(rb"[^\[\]{}]+")


@dataclass
class ChatBody:
    request: LLMRequest
    stream: bool
    client_wants_usage: bool
    body: dict[str, Any]


def _invalid(message: str, param: str | None = None) -> APIError:
    return APIError(400, message, param=param)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def nesting_check(raw: bytes) -> None:
    """Refuse bodies nested deeper than MAX_NESTING, before any parser recurses.

    Brackets inside strings do not count; the scan is the regex engine's (C)
    except for the brackets themselves, which few bodies have many of."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_NESTING:
        return
    depth = 0
    for byte in _NOT_BRACKETS.sub(b"", _STRINGS.sub(b"", raw)):
        depth += 1 if byte in b"[{" else -1
        if depth > MAX_NESTING:
            raise _invalid(f"The request body is nested deeper than {MAX_NESTING} levels.")


def parse_json(raw: bytes) -> dict[str, Any]:
    nesting_check(raw)
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _invalid(
            "We could not parse the JSON body of your request. The body must be valid JSON."
        ) from None
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object.")
    return body


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise _invalid("'messages' must be a non-empty array.", "messages")
    for i, message in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _invalid(f"{param} must be an object.", param)
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:  # an object is unhashable
            raise _invalid(f"{param}.role must be one of {sorted(ROLES)}.", f"{param}.role")
        content = message.get("content")
        if content is None and not (message.get("tool_calls") or message.get("function_call")):
            raise _invalid(f"{param}.content is required.", f"{param}.content")
        if content is not None and not isinstance(content, str | list):
            raise _invalid(
                f"{param}.content must be a string or an array of parts.", f"{param}.content"
            )
        if isinstance(content, list) and not all(isinstance(p, dict) for p in content):
            raise _invalid(f"{param}.content parts must be objects.", f"{param}.content")


def _check_ranges(body: dict[str, Any]) -> None:
    for name in ("max_tokens", "max_completion_tokens", "n", "seed", "top_logprobs"):
        value = body.get(name)
        if value is not None and not _is_int(value):
            raise _invalid(f"'{name}' must be an integer.", name)
    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = body.get(name)
        if value is not None and value < 1:
            raise _invalid(f"'{name}' must be at least 1.", name)
    if (body.get("n") or 0) > MAX_CHOICES:
        raise _invalid(
            f"Invalid 'n': integer above maximum value. Expected a value <= {MAX_CHOICES}, "
            f"but got {body['n']} instead.",
            "n",
        )
    if body.get("max_tokens") is not None and body.get("max_completion_tokens") is not None:
        raise _invalid(
            "Setting 'max_tokens' and 'max_completion_tokens' at the same time is not supported.",
            "max_tokens",
        )
    bounds = {
        "temperature": (0, 2),
        "top_p": (0, 1),
        "presence_penalty": (-2, 2),
        "frequency_penalty": (-2, 2),
    }
    for name, (low, high) in bounds.items():
        value = body.get(name)
        if value is None:
            continue
        if not _is_number(value) or not low <= value <= high:
            raise _invalid(f"'{name}' must be a number between {low} and {high}.", name)


def _check_types(body: dict[str, Any]) -> None:
    types = {
        "stream": bool,
        "stream_options": dict,
        "response_format": dict,
        "tools": list,
        "logprobs": bool,
        "parallel_tool_calls": bool,
        "user": str,
        "metadata": dict,
        "stop": str | list,
        "logit_bias": dict,
        "store": bool,
    }
    for name, expected in types.items():
        value = body.get(name)
        if value is not None and not isinstance(value, expected):
            raise _invalid(f"'{name}' has the wrong type.", name)
    stop = body.get("stop")
    if isinstance(stop, list) and not all(isinstance(item, str) for item in stop):
        raise _invalid("'stop' must be a string or an array of strings.", "stop")


def parse_storable_json(raw: bytes) -> dict[str, Any]:
    """``parse_json``, with lone surrogates made U+FFFD."""
    body = parse_json(raw)
    if b"\\u" in raw and _lone_surrogate_in(body):
        # JSON may escape half a surrogate pair, which no provider can be sent
        # (UTF-8 cannot encode it) and no database store: it becomes U+FFFD, as
        # a lenient UTF-8 decoder would make of it.
        body = _surrogates_replaced(body)
    return body


def parse_chat_body(raw: bytes) -> ChatBody:
    body = parse_storable_json(raw)
    # Fields the gateway does not read (new SDK parameters, a vendor's own in
    # ``extra_body``) go to the provider untouched: the provider judges them.
    model = body.get("model")
    if (
        not isinstance(model, str)
        or not model.strip()
        or len(model) > MAX_MODEL_NAME
        or unstorable(model)  # no model has one, and the database cannot store it
    ):
        raise _invalid("'model' must be a non-empty string.", "model")
    _check_messages(body.get("messages"))
    _check_types(body)
    _check_ranges(body)
    skip = {"model", "messages", "stream", "stream_options", "max_tokens", "response_format"}
    request = LLMRequest(
        messages=body["messages"],
        model=model,
        max_tokens=body.get("max_tokens") or body.get("max_completion_tokens"),
        response_format=body.get("response_format"),
        extra={k: v for k, v in body.items() if k not in skip},
        passthrough=True,
    )
    return ChatBody(
        request=request,
        stream=bool(body.get("stream")),
        client_wants_usage=bool((body.get("stream_options") or {}).get("include_usage")),
        body=body,
    )


_SURROGATE = re.compile("[\ud800-\udfff]")


def _surrogates_replaced(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_surrogates_replaced(k): _surrogates_replaced(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_surrogates_replaced(v) for v in value]
    return value


def _lone_surrogate_in(value: Any) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_lone_surrogate_in(k) or _lone_surrogate_in(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_lone_surrogate_in(v) for v in value)
    return False
