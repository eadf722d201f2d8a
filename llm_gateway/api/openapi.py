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

from llm_gateway.api.openapi_messages import ANTHROPIC_PATHS, messages_paths, messages_schemas
from llm_gateway.api.openapi_operations import operation_paths, operation_schemas
from llm_gateway.api.openapi_parts import (
    ANTHROPIC_ERROR_RESPONSE,
    BLANK_CHARACTERS,  # noqa: F401 - the parser's blanks, checked against it by the tests
    CALL_ERRORS,
    JSON,
    MODEL_NAME,
    OPENAI_ERROR_RESPONSE,
    errors,
    json_body,
    json_ok,
)
from llm_gateway.api.parsing import MAX_CHOICES, ROLES
from validation.feedback import MAX_COMMENT as FEEDBACK_MAX_COMMENT
from validation.feedback import MAX_NAME as FEEDBACK_MAX_NAME


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

_CHAT_REQUEST = {
    "type": "object",
    "required": ["model", "messages"],
    # OpenAI refuses the two limits together; so does the gateway.
    "not": {"required": ["max_tokens", "max_completion_tokens"]},
    "description": "OpenAI's chat.completions request. Fields not listed (new SDK "
    "parameters, a vendor's own in `extra_body`) are forwarded to the provider as-is. "
    "`max_tokens` and `max_completion_tokens` together are refused like OpenAI does.",
    "properties": {
        "model": MODEL_NAME,
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

_FEEDBACK_REQUEST = {
    "type": "object",
    "required": ["request_id", "score"],
    "description": "A score for one of the calling key's calls (validation/feedback.py).",
    "properties": {
        "request_id": {
            "type": "string",
            "format": "uuid",
            "description": "The call's `x-gateway-request-id`.",
        },
        "score": {
            "oneOf": [{"type": "number", "minimum": -1, "maximum": 1}, {"type": "boolean"}],
            "description": "-1 to 1; true/false are thumbs up/down (1/0).",
        },
        "comment": {"type": "string", "maxLength": FEEDBACK_MAX_COMMENT, "nullable": True},
        "name": {
            "type": "string",
            "maxLength": FEEDBACK_MAX_NAME,
            "nullable": True,
            "description": "Who or what scored (several per call): `user` unless given.",
        },
    },
}

_FEEDBACK = {
    "type": "object",
    "required": ["object", "id", "request_id", "name", "score", "comment", "created_at"],
    "properties": {
        "object": {"type": "string", "enum": ["feedback"]},
        "id": {"type": "integer"},
        "request_id": {"type": "string"},
        "name": {"type": "string"},
        "score": {"type": "number"},
        "comment": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}


# OpenAI (and the gateway) take null for any optional parameter: "not given".
for _name, _property in _CHAT_REQUEST["properties"].items():
    if _name not in _CHAT_REQUEST["required"]:
        _property["nullable"] = True


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
                "requestBody": json_body("ChatRequest"),
                "responses": {
                    "200": {
                        "description": "The completion, or with `stream` an SSE stream of "
                        "`chat.completion.chunk` events ending in `data: [DONE]`.",
                        "content": {
                            JSON: {"schema": {"$ref": "#/components/schemas/ChatCompletion"}},
                            # OpenAPI 3.0: the schema describes each event.
                            "text/event-stream": {"schema": _SSE_EVENT},
                        },
                    },
                    **errors(*CALL_ERRORS),
                },
            }
        },
        "/v1/models": {
            "get": {
                "operationId": "listModels",
                "summary": "The priced models plus the providers' lists.",
                "responses": {
                    "200": json_ok("Models.", {"$ref": "#/components/schemas/ModelList"}),
                    **errors("401", "405", "503"),
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
                    "200": json_ok("Usage.", {"$ref": "#/components/schemas/KeyUsage"}),
                    **errors("400", "401", "405", "503"),
                },
            }
        },
        "/api/v1/budgets": {
            "get": {
                "operationId": "keyBudgets",
                "summary": "Budgets that apply to the calling key, with their status.",
                "responses": {
                    "200": json_ok("Budgets.", {"$ref": "#/components/schemas/BudgetList"}),
                    **errors("401", "405", "503"),
                },
            }
        },
        "/api/v1/feedback": {
            "post": {
                "operationId": "createFeedback",
                "summary": "Score one of the calling key's calls (404 for any other call).",
                "requestBody": json_body("FeedbackRequest"),
                "responses": {
                    "201": json_ok("Stored.", {"$ref": "#/components/schemas/Feedback"}),
                    **errors("400", "401", "404", "405", "413"),
                },
            }
        },
        **operation_paths(),
        **messages_paths(),
    },
    "components": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "A gateway key (`gw_<prefix>_<secret>`), never a provider key.",
            },
            "apiKeyAuth": {
                "type": "apiKey",
                "in": "header",
                "name": "x-api-key",
                "description": "A gateway key where Anthropic's SDK puts its key (/v1/messages).",
            },
        },
        "schemas": {
            "ChatRequest": _CHAT_REQUEST,
            "ChatCompletion": _CHAT_COMPLETION,
            "ErrorResponse": OPENAI_ERROR_RESPONSE,
            "AnthropicErrorResponse": ANTHROPIC_ERROR_RESPONSE,
            "ModelList": _MODEL_LIST,
            "KeyUsage": _KEY_USAGE,
            "BudgetList": _BUDGET_LIST,
            "FeedbackRequest": _FEEDBACK_REQUEST,
            "Feedback": _FEEDBACK,
            **operation_schemas(),
            **messages_schemas(),
        },
    },
}

# Which methods each documented path answers; the rest get an OpenAI-shaped 405.
# Anthropic's paths answer a wrong method themselves, in Anthropic's shape.
ALLOWED_METHODS: dict[str, tuple[str, ...]] = {
    path: tuple(method.upper() for method in operations)
    for path, operations in OPENAPI["paths"].items()
    if path not in ANTHROPIC_PATHS
}


@cache
def _document() -> bytes:
    return json.dumps(OPENAPI, indent=1).encode()


async def openapi_json(request: HttpRequest) -> HttpResponse:
    """The description itself is public: it holds no secret and agents need it to connect."""
    return HttpResponse(_document(), content_type=JSON)
