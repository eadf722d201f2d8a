"""What every part of the OpenAPI description shares: the error responses of
each protocol, and the shape of a JSON answer.

One home for them, so the chat, operation and Anthropic paths
(``openapi.py``, ``openapi_operations.py``, ``openapi_messages.py``) describe
each error status with the same words and the same schema.
"""

from __future__ import annotations

from typing import Any

from llm_gateway.api.parsing import MAX_MODEL_NAME

JSON = "application/json"
OPENAI_ERROR = {"$ref": "#/components/schemas/ErrorResponse"}
ANTHROPIC_ERROR = {"$ref": "#/components/schemas/AnthropicErrorResponse"}

ERROR_DESCRIPTIONS = {
    "400": "Malformed JSON, a body nested deeper than 64 levels, or an invalid field "
    "(`invalid_request_error`, `param` names it); a provider's refusal as the provider "
    "wrote it.",
    "401": "Missing, unknown, revoked or expired key (`invalid_api_key`).",
    "403": "The key may not use this model (`model_not_allowed`), or may not act as the "
    "agent named in X-Agent-Name (`agent_not_allowed`).",
    "404": "Unknown model (`model_not_found`) or endpoint (`unknown_url`).",
    "405": "Wrong HTTP method (`method_not_allowed`).",
    "413": "Body larger than GATEWAY_MAX_BODY_BYTES (`request_too_large`).",
    "429": "The key's RPM/TPM (`rate_limit_exceeded`), or a spent blocking budget "
    "(type `insufficient_quota`, code `budget_exceeded`, header `x-should-retry: false`).",
    "502": "Every provider failed.",
    "503": "The gateway's database is unavailable (`database_unavailable`); retry.",
    "504": "Every provider timed out.",
}

# The characters Python's str.strip() removes, which is how the parser judges a
# blank name. Spelt out: "\S" means another set in each regex dialect (ECMA's
# leaves out U+001C-U+001F and U+0085 and adds U+FEFF), and a fuzzer generating
# from it sent "\x1e\x1e\x1e", which the schema allowed and the parser refused.
BLANK_CHARACTERS = (
    r"\t\n\u000b\f\r\u001c-\u001f\u0020\u0085\u00a0\u1680\u2000-\u200a"
    r"\u2028\u2029\u202f\u205f\u3000"
)
# Not blank, and no NUL (the gateway refuses it: no model has one, the database can't store it).
MODEL_PATTERN = rf"^[^\u0000]*[^\u0000{BLANK_CHARACTERS}][^\u0000]*$"
MODEL_NAME = {"type": "string", "pattern": MODEL_PATTERN, "maxLength": MAX_MODEL_NAME}

# The statuses of an endpoint that admits a request and calls a provider.
CALL_ERRORS = ("400", "401", "403", "404", "405", "413", "429", "502", "503", "504")


def errors(*statuses: str, schema: dict[str, Any] = OPENAI_ERROR) -> dict[str, Any]:
    """The documented error responses, OpenAI-shaped unless ``schema`` says otherwise."""
    return {
        status: {"description": ERROR_DESCRIPTIONS[status], "content": {JSON: {"schema": schema}}}
        for status in statuses
    }


def json_ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def json_body(schema_name: str) -> dict[str, Any]:
    """A required JSON request body of a named component schema."""
    return {
        "required": True,
        "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}},
    }


OPENAI_ERROR_RESPONSE = {
    "type": "object",
    "description": "OpenAI's error shape; the OpenAI SDKs read it and decide on retries.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": "string", "nullable": True},
                "code": {"type": "string", "nullable": True},
            },
        }
    },
}

ANTHROPIC_ERROR_RESPONSE = {
    "type": "object",
    "description": "Anthropic's error shape (/v1/messages); the anthropic SDK reads it.",
    "required": ["type", "error"],
    "properties": {
        "type": {"type": "string", "enum": ["error"]},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
        },
    },
}
