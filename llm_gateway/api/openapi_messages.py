"""The OpenAPI description of Anthropic's Messages API on the gateway:
``/v1/messages`` and ``/v1/messages/count_tokens`` (``api/messages.py``).

Merged into ``llm_gateway.api.openapi.OPENAPI``. The request schema lists what
the gateway itself checks (``api/anthropic_parsing.py``); every other field is
relayed to Anthropic as sent. Every error is Anthropic-shaped.
"""

from __future__ import annotations

from typing import Any

from llm_gateway.api.anthropic_parsing import ROLES
from llm_gateway.api.openapi_parts import (
    ANTHROPIC_ERROR,
    CALL_ERRORS,
    JSON,
    MODEL_NAME,
    errors,
    json_body,
    json_ok,
)

ANTHROPIC_PATHS = ("/v1/messages", "/v1/messages/count_tokens")
_RELAYED = " Fields not listed are relayed to Anthropic as sent."
_MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "role": {"type": "string", "enum": sorted(ROLES)},
        "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
    },
}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """The parser takes null for an optional field: "not given"."""
    return {**schema, "nullable": True}


def _request(*, counting: bool) -> dict[str, Any]:
    unit = {"type": "number", "minimum": 0, "maximum": 1}
    properties: dict[str, Any] = {
        "model": MODEL_NAME,
        "messages": {"type": "array", "minItems": 1, "items": _MESSAGE},
        "max_tokens": {"type": "integer", "minimum": 1},
        "system": _nullable(
            {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]}
        ),
        "stream": _nullable({"type": "boolean"}),
        "temperature": _nullable(unit),
        "top_p": _nullable(unit),
        "stop_sequences": _nullable({"type": "array", "items": {"type": "string"}}),
        "metadata": _nullable(
            {
                "type": "object",
                "description": "`user_id` is the call's end user (an `x-gateway-user` "
                "header wins).",
            }
        ),
        "tools": _nullable({"type": "array", "items": {"type": "object"}}),
        "tool_choice": _nullable({"type": "object"}),
        "thinking": _nullable({"type": "object"}),
    }
    required = ["model", "messages"] if counting else ["model", "max_tokens", "messages"]
    what = "count_tokens request" if counting else "Messages request"
    return {
        "type": "object",
        "required": required,
        "description": f"Anthropic's {what}, for a Claude model an Anthropic provider "
        "serves (another model is a 400: use /v1/chat/completions)." + _RELAYED,
        "properties": properties,
    }


def messages_schemas() -> dict[str, Any]:
    return {
        "MessagesRequest": _request(counting=False),
        "CountTokensRequest": _request(counting=True),
        "Message": {
            "type": "object",
            "required": ["id", "type", "role", "content", "model"],
            "properties": {
                "id": {"type": "string"},
                "type": {"type": "string", "enum": ["message"]},
                "role": {"type": "string", "enum": ["assistant"]},
                "content": {"type": "array", "items": {"type": "object"}},
                "model": {"type": "string"},
                "stop_reason": {"type": "string", "nullable": True},
                "usage": {"type": "object"},
            },
        },
        "TokenCount": {
            "type": "object",
            "required": ["input_tokens"],
            "properties": {"input_tokens": {"type": "integer"}},
        },
    }


# Anthropic's SDK sends its key in x-api-key; a bearer token works too.
_SECURITY = [{"apiKeyAuth": []}, {"bearerAuth": []}]


def messages_paths() -> dict[str, Any]:
    message = {JSON: {"schema": {"$ref": "#/components/schemas/Message"}}}
    message["text/event-stream"] = {
        "schema": {
            "type": "object",
            "properties": {
                "event": {"type": "string"},
                "data": {
                    "type": "string",
                    "description": "Anthropic's stream events as sent, from "
                    "`message_start` to `message_stop`.",
                },
            },
        }
    }
    return {
        "/v1/messages": {
            "post": {
                "operationId": "createMessage",
                "summary": "A Claude message, relayed natively; streamed (SSE) when "
                "`stream` is true.",
                "security": _SECURITY,
                "requestBody": json_body("MessagesRequest"),
                "responses": {
                    "200": {"description": "The message, or its event stream.", "content": message},
                    **errors(*CALL_ERRORS, schema=ANTHROPIC_ERROR),
                },
            }
        },
        "/v1/messages/count_tokens": {
            "post": {
                "operationId": "countMessageTokens",
                "summary": "Anthropic's token count for a Messages body (free; recorded at $0).",
                "security": _SECURITY,
                "requestBody": json_body("CountTokensRequest"),
                "responses": {
                    "200": json_ok("The count.", {"$ref": "#/components/schemas/TokenCount"}),
                    **errors(*CALL_ERRORS, schema=ANTHROPIC_ERROR),
                },
            }
        },
    }
