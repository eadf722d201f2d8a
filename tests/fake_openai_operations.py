"""The fake OpenAI upstream's embeddings, Responses, legacy completions and moderations.

Plain functions from a request body to an answer (or a list of SSE events), so
``tests/fake_openai.py`` only routes to them. Token rule as in the chat fake:
one token per whitespace-separated word, one per element of a token array.
Embedding vectors are deterministic (seeded by the input) and unit length.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import struct
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

EMBEDDING_MODELS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072}
EMBEDDING_MODELS["text-embedding-ada-002"] = 1536
MODERATION_MODELS = ("omni-moderation-latest", "text-moderation-latest")
REPLY = "Fake answer from the local Responses upstream, deterministic for tests."


class Refusal(Exception):
    """An OpenAI error the fake answers with (status, message, param, code)."""

    def __init__(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def body(self) -> dict[str, Any]:
        error = {"message": self.message, "type": "invalid_request_error"}
        return {"error": {**error, "param": self.param, "code": self.code}}


def _words(text: str) -> int:
    return len(text.split())


def _items(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(t, int) for t in value):
        return [value]
    if isinstance(value, list) and value:
        return value
    raise Refusal(400, "'$.input' is invalid. Please check the API reference.", "input")


def _tokens(item: Any) -> int:
    return len(item) if isinstance(item, list) else _words(str(item))


def _vector(item: Any, dimensions: int) -> list[float]:
    rng = random.Random(hashlib.sha256(json.dumps(item).encode()).digest())
    values = [rng.uniform(-1, 1) for _ in range(dimensions)]
    norm = sum(v * v for v in values) ** 0.5
    return [round(v / norm, 8) for v in values]


def embeddings(body: dict[str, Any], model: str) -> dict[str, Any]:
    if model not in EMBEDDING_MODELS:
        raise Refusal(404, f"The model `{model}` does not exist.", None, "model_not_found")
    dims = body.get("dimensions") or EMBEDDING_MODELS[model]
    if body.get("dimensions") is not None and model == "text-embedding-ada-002":
        raise Refusal(400, "This model does not support specifying dimensions.", "dimensions")
    if not isinstance(dims, int) or not 1 <= dims <= EMBEDDING_MODELS[model]:
        raise Refusal(400, f"Invalid value for 'dimensions' = {dims}.", "dimensions")
    fmt = body.get("encoding_format") or "float"
    items = _items(body.get("input"))
    data = []
    for index, item in enumerate(items):
        vector: Any = _vector(item, dims)
        if fmt == "base64":
            vector = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": vector})
    tokens = sum(_tokens(item) for item in items)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": model, "usage": usage}


def _input_text(body: dict[str, Any]) -> str:
    value = body.get("input")
    if isinstance(value, str):
        return value
    parts = []
    for item in value or []:
        content = item.get("content") if isinstance(item, dict) else item
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return " ".join(parts)


@dataclass
class ResponsesState:
    """Stored responses (``store`` defaults to true, as at OpenAI)."""

    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    counter: int = 0

    def response(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        self.counter += 1
        prompt = _words(_input_text(body)) + _words(str(body.get("instructions") or ""))
        text = REPLY
        limit = body.get("max_output_tokens")
        if isinstance(limit, int) and _words(text) > limit:
            text = " ".join(text.split()[:limit])
        status = "incomplete" if text != REPLY else "completed"
        output_tokens = _words(text) + self.reasoning_tokens
        response = {
            # Unique across fakes: a gateway with Redis remembers ids between tests.
            "id": f"resp_fake_{uuid.uuid4().hex[:16]}",
            "object": "response",
            "created_at": int(time.time()),
            "status": status,
            "incomplete_details": {"reason": "max_output_tokens"} if text != REPLY else None,
            "model": model,
            "previous_response_id": body.get("previous_response_id"),
            "output": [_message(text, self.counter)],
            "tools": body.get("tools") or [],
            "usage": {
                "input_tokens": prompt,
                "input_tokens_details": {"cached_tokens": min(self.cached_tokens, prompt)},
                "output_tokens": output_tokens,
                "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
                "total_tokens": prompt + output_tokens,
            },
        }
        if body.get("store", True):
            self.stored[response["id"]] = response
        return response

    def events(self, response: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """The stream of one response: created, text deltas, then completed."""
        opening = {**response, "status": "in_progress", "output": [], "usage": None}
        events = [("response.created", {"type": "response.created", "response": opening})]
        text = response["output"][0]["content"][0]["text"]
        for index, word in enumerate(text.split(" ")):
            delta = word if index == 0 else " " + word
            event = {"type": "response.output_text.delta", "item_id": "msg", "output_index": 0}
            events.append((event["type"], {**event, "content_index": 0, "delta": delta}))
        kind = "response.completed" if response["status"] == "completed" else "response.incomplete"
        events.append((kind, {"type": kind, "response": response}))
        return events


def _message(text: str, number: int) -> dict[str, Any]:
    return {
        "type": "message",
        "id": f"msg_fake_{number}",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def completion(body: dict[str, Any], model: str) -> dict[str, Any]:
    prompt = body.get("prompt")
    if prompt is None:
        raise Refusal(400, "Missing required parameter: 'prompt'.", "prompt")
    items = _items(prompt)
    text = " " + REPLY
    limit = body.get("max_tokens")
    cut = isinstance(limit, int) and _words(text) > limit
    if cut:
        text = " " + " ".join(text.split()[:limit])
    tokens_in = sum(_tokens(item) for item in items)
    tokens_out = _words(text)
    choice = {"text": text, "index": 0, "logprobs": None}
    return {
        "id": "cmpl-fake",
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{**choice, "finish_reason": "length" if cut else "stop"}],
        "usage": {
            "prompt_tokens": tokens_in,
            "completion_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
        },
    }


def completion_events(whole: dict[str, Any], include_usage: bool) -> list[dict[str, Any]]:
    head = {k: whole[k] for k in ("id", "object", "created", "model")}
    choice = whole["choices"][0]
    events = []
    words = choice["text"].split(" ")
    for index, word in enumerate(words):
        last = index == len(words) - 1
        piece = {"text": word if index == 0 else " " + word, "index": 0, "logprobs": None}
        piece["finish_reason"] = choice["finish_reason"] if last else None
        events.append({**head, "choices": [piece]})
    if include_usage:
        events.append({**head, "choices": [], "usage": whole["usage"]})
    return events


def moderation(body: dict[str, Any]) -> dict[str, Any]:
    model = body.get("model") or "omni-moderation-latest"
    if model not in MODERATION_MODELS:
        raise Refusal(404, f"The model `{model}` does not exist.", None, "model_not_found")
    results = []
    for item in _items(body.get("input")):
        flagged = "attack" in str(item)
        categories = {"violence": flagged, "hate": False}
        scores = {"violence": 0.9 if flagged else 0.01, "hate": 0.001}
        results.append({"flagged": flagged, "categories": categories, "category_scores": scores})
    return {"id": "modr-fake", "model": model, "results": results}
