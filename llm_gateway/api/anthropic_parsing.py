"""Validation of Anthropic Messages bodies (``/v1/messages``, ``count_tokens``).

Only what the gateway reads or what would otherwise fail upstream in a less
clear way is checked; every other field is relayed untouched (so a field
Anthropic adds tomorrow works today). Messages say ``field: problem`` as
Anthropic's own validation errors do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.redaction import unstorable
from llm_gateway.api.errors import APIError
from llm_gateway.api.parsing import MAX_MODEL_NAME, parse_storable_json
from llm_gateway.interface import LLMRequest, NativeBody
from llm_gateway.providers.anthropic_native import PROTOCOL, RELAYED_HEADERS

ROLES = frozenset({"user", "assistant"})
_TYPES: dict[str, type | tuple[type, ...]] = {
    "stream": bool,
    "system": (str, list),
    "stop_sequences": list,
    "metadata": dict,
    "tools": list,
    "tool_choice": dict,
    "thinking": dict,
}
_RANGES = {"temperature": (0, 1), "top_p": (0, 1)}


@dataclass
class MessagesBody:
    body: dict[str, Any]
    model: str
    stream: bool
    request: LLMRequest


def _invalid(message: str, param: str | None = None) -> APIError:
    return APIError(400, message, param=param)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if "model" not in body:
        raise _invalid("model: Field required", "model")
    usable = isinstance(model, str) and model.strip() and len(model) <= MAX_MODEL_NAME
    if not usable or unstorable(model):  # no model has a NUL, and the database cannot store it
        raise _invalid("model: Input should be a non-empty string", "model")
    return model


def _check_messages(messages: Any) -> None:
    if messages is None:
        raise _invalid("messages: Field required", "messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages: Input should be a non-empty list", "messages")
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(message, dict):
            raise _invalid(f"{where}: Input should be an object", where)
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:  # an object is unhashable
            raise _invalid(f"{where}.role: Input should be 'user' or 'assistant'", where)
        content = message.get("content")
        if not isinstance(content, str | list):
            raise _invalid(f"{where}.content: Input should be a string or a list", where)
        if isinstance(content, list) and not all(isinstance(b, dict) for b in content):
            raise _invalid(f"{where}.content: Each block should be an object", where)


def _check_fields(body: dict[str, Any], *, counting: bool) -> None:
    max_tokens = body.get("max_tokens")
    if not counting and "max_tokens" not in body:
        raise _invalid("max_tokens: Field required", "max_tokens")
    if max_tokens is not None and (not _is_int(max_tokens) or max_tokens < 1):
        raise _invalid("max_tokens: Input should be an integer of at least 1", "max_tokens")
    for name, expected in _TYPES.items():
        if body.get(name) is not None and not isinstance(body[name], expected):
            raise _invalid(f"{name}: Input has the wrong type", name)
    for name, (low, high) in _RANGES.items():
        value = body.get(name)
        if value is None:
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not low <= value <= high:
            raise _invalid(f"{name}: Input should be a number between {low} and {high}", name)
    stops = body.get("stop_sequences") or []
    if not all(isinstance(s, str) for s in stops):
        raise _invalid("stop_sequences: Input should be a list of strings", "stop_sequences")


def parse_messages_body(
    raw: bytes, headers: Mapping[str, str], *, counting: bool = False
) -> MessagesBody:
    """The checked body, and the request the manager relays (``LLMRequest.native``)."""
    body = parse_storable_json(raw)
    model = _check_model(body)
    _check_messages(body.get("messages"))
    _check_fields(body, counting=counting)
    relayed = {name: headers[name] for name in RELAYED_HEADERS if headers.get(name)}
    system = body.get("system")
    # The system prompt counts for the budget's estimate and the validator.
    turns = ([{"role": "system", "content": system}] if system else []) + body["messages"]
    request = LLMRequest(
        messages=turns,
        model=model,
        max_tokens=body.get("max_tokens"),
        passthrough=True,
        native=NativeBody(PROTOCOL, body, relayed),
    )
    return MessagesBody(body=body, model=model, stream=bool(body.get("stream")), request=request)
