"""The OpenAPI description of the operation endpoints (embeddings, Responses,
legacy completions, moderations) and of ``/v1/models/{id}``.

Merged into ``llm_gateway.api.openapi.OPENAPI``; errors are described with
the shared parts (``openapi_parts``). Request schemas list only what the
gateway itself checks and say that every other field is forwarded
(``additionalProperties`` stays open).
"""

from __future__ import annotations

from typing import Any

from llm_gateway.api.openapi_parts import CALL_ERRORS, JSON, MODEL_NAME, errors, json_body, json_ok
from llm_gateway.api.parsing import MAX_CHOICES

_FORWARDED = " Fields not listed are forwarded to the provider untouched."
_TOKENS = {"type": "array", "minItems": 1, "items": {"type": "integer"}}
_TEXT_OR_TOKENS = {
    "oneOf": [
        {"type": "string"},
        {"type": "array", "minItems": 1, "items": {"type": "string"}},
        _TOKENS,
        {"type": "array", "minItems": 1, "items": _TOKENS},
    ]
}
_USAGE = {"type": "object", "additionalProperties": {}}


def operation_schemas() -> dict[str, Any]:
    model = MODEL_NAME
    return {
        "EmbeddingRequest": {
            "type": "object",
            "required": ["model", "input"],
            "description": "OpenAI's embeddings request." + _FORWARDED,
            "properties": {
                "model": model,
                "input": _TEXT_OR_TOKENS,
                "encoding_format": {"type": "string", "enum": ["float", "base64"]},
                "dimensions": {"type": "integer", "minimum": 1, "maximum": 3072},
                "user": {"type": "string"},
            },
        },
        "EmbeddingList": {
            "type": "object",
            "required": ["object", "data", "model"],
            "properties": {
                "object": {"type": "string", "enum": ["list"]},
                "model": {"type": "string"},
                "data": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["index", "embedding"],
                        "properties": {
                            "index": {"type": "integer"},
                            "embedding": {
                                "oneOf": [
                                    {"type": "array", "items": {"type": "number"}},
                                    {"type": "string", "description": "base64 float32"},
                                ]
                            },
                        },
                    },
                },
                "usage": _USAGE,
            },
        },
        "ResponseRequest": {
            "type": "object",
            "required": ["model"],
            "description": "OpenAI's Responses API request (tools, reasoning, store, "
            "previous_response_id…)." + _FORWARDED,
            "properties": {
                "model": model,
                "input": {
                    "oneOf": [
                        {"type": "string"},
                        {"type": "array", "items": {"type": "object"}},
                    ]
                },
                "stream": {"type": "boolean"},
                "max_output_tokens": {"type": "integer", "minimum": 1},
            },
        },
        "Response": {
            "type": "object",
            "required": ["id", "object"],
            "properties": {
                "id": {"type": "string"},
                "object": {"type": "string"},
                "status": {"type": "string"},
                "model": {"type": "string"},
                "output": {"type": "array", "items": {"type": "object"}},
                "usage": {"type": "object", "nullable": True},
            },
        },
        "CompletionRequest": {
            "type": "object",
            "required": ["model", "prompt"],
            "description": "OpenAI's legacy completions request." + _FORWARDED,
            "properties": {
                "model": model,
                "prompt": _TEXT_OR_TOKENS,
                "max_tokens": {"type": "integer", "minimum": 0},
                "n": {"type": "integer", "minimum": 1, "maximum": MAX_CHOICES},
                "stream": {"type": "boolean"},
                "stream_options": {"type": "object"},
            },
        },
        "Completion": {
            "type": "object",
            "required": ["id", "object", "choices"],
            "properties": {
                "id": {"type": "string"},
                "object": {"type": "string", "enum": ["text_completion"]},
                "model": {"type": "string"},
                "choices": {"type": "array", "items": {"type": "object"}},
                "usage": _USAGE,
            },
        },
        "ModerationRequest": {
            "type": "object",
            "required": ["input"],
            "description": "OpenAI's moderations request (recorded at $0)." + _FORWARDED,
            "properties": {
                "model": model,
                "input": {
                    "oneOf": [
                        {"type": "string"},
                        {"type": "array", "minItems": 1, "items": {"type": "string"}},
                        {"type": "array", "minItems": 1, "items": {"type": "object"}},
                    ]
                },
            },
        },
        "Moderation": {
            "type": "object",
            "required": ["id", "model", "results"],
            "properties": {
                "id": {"type": "string"},
                "model": {"type": "string"},
                "results": {"type": "array", "items": {"type": "object"}},
            },
        },
        "Model": {
            "type": "object",
            "required": ["id", "object"],
            "properties": {
                "id": {"type": "string"},
                "object": {"type": "string", "enum": ["model"]},
                "created": {"type": "integer"},
                "owned_by": {"type": "string"},
            },
        },
    }


def _post(
    operation_id: str, summary: str, request: str, answer: str, *, sse: str = ""
) -> dict[str, Any]:
    content: dict[str, Any] = {JSON: {"schema": {"$ref": f"#/components/schemas/{answer}"}}}
    if sse:
        content["text/event-stream"] = {
            "schema": {
                "type": "object",
                "properties": {"data": {"type": "string", "description": sse}},
            }
        }
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "requestBody": json_body(request),
            "responses": {
                "200": {"description": summary, "content": content},
                **errors(*CALL_ERRORS),
            },
        }
    }


def _path_id(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_:-][A-Za-z0-9_.:-]*$"},
    }


def operation_paths() -> dict[str, Any]:
    response_id = [_path_id("response_id", "The id of a response this key created.")]
    stored = {"$ref": "#/components/schemas/Response"}
    return {
        "/v1/embeddings": _post(
            "createEmbedding",
            "Embeddings of a text or tokens.",
            "EmbeddingRequest",
            "EmbeddingList",
        ),
        "/v1/responses": _post(
            "createResponse",
            "A Responses API answer, streamed when `stream` is true.",
            "ResponseRequest",
            "Response",
            sse="Responses API events (`event:` lines) ending in `response.completed`.",
        ),
        "/v1/responses/{response_id}": {
            "get": {
                "operationId": "getResponse",
                "summary": "A stored response, for the key that created it.",
                "parameters": response_id,
                "responses": {
                    "200": json_ok("The response.", stored),
                    **errors("401", "404", "405", "502", "503", "504"),
                },
            },
            "delete": {
                "operationId": "deleteResponse",
                "summary": "Delete a stored response of this key.",
                "parameters": response_id,
                "responses": {
                    "200": json_ok("Deleted.", {"type": "object"}),
                    **errors("401", "404", "405", "502", "503", "504"),
                },
            },
        },
        "/v1/completions": _post(
            "createCompletion",
            "A legacy completion, streamed when `stream` is true.",
            "CompletionRequest",
            "Completion",
            sse="`text_completion` chunks ending in `[DONE]`.",
        ),
        "/v1/moderations": _post(
            "createModeration",
            "Moderation of text (recorded at $0).",
            "ModerationRequest",
            "Moderation",
        ),
        "/v1/models/{model_id}": {
            "get": {
                "operationId": "retrieveModel",
                "summary": "A model some route serves; 404 otherwise.",
                "parameters": [_path_id("model_id", "A model name.")],
                "responses": {
                    "200": json_ok("The model.", {"$ref": "#/components/schemas/Model"}),
                    **errors("401", "404", "405", "503"),
                },
            }
        },
    }
