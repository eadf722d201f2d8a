"""The OpenAPI 3.0 description of the gateway's HTTP API, served at ``/api/openapi.json``.

Built from a dict in Python rather than generated from the views: the views
are hand-written async functions with OpenAI's exact wording, and a
hand-maintained description is the contract agents (and the schemathesis fuzz
run in tests/test_openapi_fuzz.py) hold the gateway to. When an endpoint,
field or error changes, change it here in the same commit.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from django.http import HttpRequest, HttpResponse

from llm_gateway.api.openapi_operations import operation_paths, operation_schemas
from llm_gateway.api.parsing import MAX_CHOICES, MAX_MODEL_NAME, ROLES

_JSON = "application/json"
_REF_ERROR = {"$ref": "#/components/schemas/ErrorResponse"}

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


def _errors(*statuses: str) -> dict[str, Any]:
    return {
        status: {
            "description": ERROR_DESCRIPTIONS[status],
            "content": {_JSON: {"schema": _REF_ERROR}},
        }
        for status in statuses
    }


def _number(low: float, high: float) -> dict[str, Any]:
    return {"type": "number", "minimum": low, "maximum": high}


_MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "role": {"type": "string", "enum": sorted(ROLES)},
        "content": {
            "oneOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "object"}},
            ]
        },
    },
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
_MODEL_PATTERN = rf"^[^\u0000]*[^\u0000{BLANK_CHARACTERS}][^\u0000]*$"

_CHAT_REQUEST = {
    "type": "object",
    "required": ["model", "messages"],
    # OpenAI refuses the two limits together; so does the gateway.
    "not": {"required": ["max_tokens", "max_completion_tokens"]},
    "description": "OpenAI's chat.completions request. Fields not listed (new SDK "
    "parameters, a vendor's own in `extra_body`) are forwarded to the provider as-is. "
    "`max_tokens` and `max_completion_tokens` together are refused like OpenAI does.",
    "properties": {
        "model": {"type": "string", "pattern": _MODEL_PATTERN, "maxLength": MAX_MODEL_NAME},
        "messages": {"type": "array", "minItems": 1, "items": _MESSAGE},
        "max_tokens": {"type": "integer", "minimum": 1},
        "max_completion_tokens": {"type": "integer", "minimum": 1},
        "n": {"type": "integer", "minimum": 1, "maximum": MAX_CHOICES},
        "temperature": _number(0, 2),
        "top_p": _number(0, 1),
        "presence_penalty": _number(-2, 2),
        "frequency_penalty": _number(-2, 2),
        "seed": {"type": "integer"},
        "stop": {
            "oneOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}},
            ]
        },
        "stream": {"type": "boolean"},
        "stream_options": {
            "type": "object",
            "description": "`include_usage: true` forwards the final usage chunk.",
        },
        "response_format": {
            "type": "object",
            "description": 'OpenAI\'s, e.g. `{"type": "json_object"}`.',
        },
        "user": {"type": "string"},
        "metadata": {"type": "object"},
        "store": {"type": "boolean"},
        "logprobs": {"type": "boolean"},
    },
}

_USAGE = {
    "type": "object",
    "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
    "properties": {
        "prompt_tokens": {"type": "integer"},
        "completion_tokens": {"type": "integer"},
        "total_tokens": {"type": "integer"},
    },
}

_CHAT_COMPLETION = {
    "type": "object",
    "required": ["id", "object", "created", "model", "choices"],
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["chat.completion"]},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "message"],
                "properties": {
                    "index": {"type": "integer"},
                    "message": {
                        "type": "object",
                        "required": ["role"],
                        "properties": {
                            "role": {"type": "string"},
                            "content": {"type": "string", "nullable": True},
                        },
                    },
                    "finish_reason": {"type": "string", "nullable": True},
                },
            },
        },
        "usage": _USAGE,
    },
}

_SSE_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "type": "string",
            "description": "A JSON `chat.completion.chunk` (or an error object), then `[DONE]`.",
        }
    },
}

_ERROR_RESPONSE = {
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

_MODEL_LIST = {
    "type": "object",
    "required": ["object", "data"],
    "properties": {
        "object": {"type": "string", "enum": ["list"]},
        "data": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "object"],
                "properties": {
                    "id": {"type": "string"},
                    "object": {"type": "string", "enum": ["model"]},
                    "created": {"type": "integer"},
                    "owned_by": {"type": "string"},
                },
            },
        },
    },
}

_KEY_USAGE = {
    "type": "object",
    "required": ["object", "period", "calls", "cost_usd", "by_model"],
    "properties": {
        "object": {"type": "string", "enum": ["usage"]},
        "period": {"type": "string", "enum": ["daily", "weekly", "monthly"]},
        "start": {"type": "string", "format": "date-time"},
        "end": {"type": "string", "format": "date-time"},
        "calls": {"type": "integer"},
        "prompt_tokens": {"type": "integer"},
        "completion_tokens": {"type": "integer"},
        "cost_usd": {"type": "string", "description": "Decimal as a string: never a float."},
        "by_model": {"type": "array", "items": {"type": "object"}},
    },
}

_BUDGET_LIST = {
    "type": "object",
    "required": ["object", "data"],
    "properties": {
        "object": {"type": "string", "enum": ["list"]},
        "data": {"type": "array", "items": {"type": "object"}},
    },
}


# OpenAI (and the gateway) take null for any optional parameter: "not given".
for _name, _property in _CHAT_REQUEST["properties"].items():
    if _name not in _CHAT_REQUEST["required"]:
        _property["nullable"] = True


def _json_ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "LLM Gateway",
        "version": "1.0.0",
        "description": "OpenAI-compatible gateway: point an OpenAI SDK's base_url at "
        "`/v1` and use a gateway key. Every error is OpenAI-shaped.",
    },
    "servers": [{"url": "/"}],
    "security": [{"bearerAuth": []}],
    "paths": {
        "/v1/chat/completions": {
            "post": {
                "operationId": "createChatCompletion",
                "summary": "A chat completion, streamed (SSE) when `stream` is true.",
                "parameters": [
                    {
                        "name": "X-Agent-Name",
                        "in": "header",
                        "required": False,
                        "description": "Attributes the call to this agent instead of the "
                        "key's own (cut to 200 characters); only names the key's "
                        "`allowed_agent_names` lists, else 403 `agent_not_allowed`.",
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {_JSON: {"schema": {"$ref": "#/components/schemas/ChatRequest"}}},
                },
                "responses": {
                    "200": {
                        "description": "The completion, or with `stream` an SSE stream of "
                        "`chat.completion.chunk` events ending in `data: [DONE]`.",
                        "content": {
                            _JSON: {"schema": {"$ref": "#/components/schemas/ChatCompletion"}},
                            # OpenAPI 3.0: the schema describes each event.
                            "text/event-stream": {"schema": _SSE_EVENT},
                        },
                    },
                    **_errors("400", "401", "403", "404", "405", "413", "429"),
                    **_errors("502", "503", "504"),
                },
            }
        },
        "/v1/models": {
            "get": {
                "operationId": "listModels",
                "summary": "The priced models plus the providers' lists.",
                "responses": {
                    "200": _json_ok("Models.", {"$ref": "#/components/schemas/ModelList"}),
                    **_errors("401", "405", "503"),
                },
            }
        },
        "/api/v1/usage": {
            "get": {
                "operationId": "keyUsage",
                "summary": "The calling key's own spend in the current period.",
                "parameters": [
                    {
                        "name": "period",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["daily", "weekly", "monthly"]},
                    }
                ],
                "responses": {
                    "200": _json_ok("Usage.", {"$ref": "#/components/schemas/KeyUsage"}),
                    **_errors("400", "401", "405", "503"),
                },
            }
        },
        "/api/v1/budgets": {
            "get": {
                "operationId": "keyBudgets",
                "summary": "Budgets that apply to the calling key, with their status.",
                "responses": {
                    "200": _json_ok("Budgets.", {"$ref": "#/components/schemas/BudgetList"}),
                    **_errors("401", "405", "503"),
                },
            }
        },
        **operation_paths(_errors, _json_ok),
    },
    "components": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "A gateway key (`gw_<prefix>_<secret>`), never a provider key.",
            }
        },
        "schemas": {
            "ChatRequest": _CHAT_REQUEST,
            "ChatCompletion": _CHAT_COMPLETION,
            "ErrorResponse": _ERROR_RESPONSE,
            "ModelList": _MODEL_LIST,
            "KeyUsage": _KEY_USAGE,
            "BudgetList": _BUDGET_LIST,
            **operation_schemas(_MODEL_PATTERN),
        },
    },
}

# Which methods each documented path answers; the rest get an OpenAI-shaped 405.
ALLOWED_METHODS: dict[str, tuple[str, ...]] = {
    path: tuple(method.upper() for method in operations)
    for path, operations in OPENAPI["paths"].items()
}


@cache
def _document() -> bytes:
    return json.dumps(OPENAPI, indent=1).encode()


async def openapi_json(request: HttpRequest) -> HttpResponse:
    """The description itself is public: it holds no secret and agents need it to connect."""
    return HttpResponse(_document(), content_type=_JSON)
