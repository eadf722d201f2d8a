"""The mock provider's embeddings, Responses, legacy completions and moderations.

Offline and deterministic, for the demo without a key and for the last-resort
fallback: answers have the providers' shapes so every client library parses
them, and say they are mock answers where there is text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import struct
import time
import uuid
from collections.abc import AsyncIterator
from fnmatch import fnmatchcase
from typing import Any

from llm_gateway.interface import LLMModelNotFoundError
from llm_gateway.operations import OperationReply, SSEEvent

# Real model families only (the price table's names and their snapshots), so a
# typo gets the 404 a provider would give instead of a made-up 200.
KNOWN_MODELS = (
    "mock-*",
    "gpt-3.5-turbo*",
    "gpt-4",
    "gpt-4-*",
    "gpt-4o",
    "gpt-4o-*",
    "gpt-4.1",
    "gpt-4.1-*",
    "gpt-5",
    "gpt-5-*",
    "chatgpt-4o-latest",
    "o1",
    "o1-*",
    "o3",
    "o3-*",
    "o4-mini",
    "o4-mini-*",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
    "omni-moderation-*",
    "text-moderation-*",
    "davinci-002",
    "babbage-002",
    "claude-*",
)
DEFAULT_DIMENSIONS = {"text-embedding-3-large": 3072}
MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)


def model_known(model: str, default_model: str) -> bool:
    return model == default_model or any(fnmatchcase(model, p) for p in KNOWN_MODELS)


def model_not_found(model: str) -> LLMModelNotFoundError:
    message = f"The model `{model}` does not exist or you do not have access to it."
    error = LLMModelNotFoundError(message, provider="mock", status_code=404)
    error.upstream_error = {
        "message": message,
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }
    return error


def _inputs(raw: Any) -> list[Any]:
    """OpenAI's input forms: a string, strings, a token array, token arrays."""
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw):
        return [raw]
    return list(raw) if isinstance(raw, list) else [str(raw)]


def _tokens(item: Any) -> int:
    return len(item) if isinstance(item, list) else max(1, len(str(item)) // 4)


def _vector(item: Any, dimensions: int) -> list[float]:
    seed = hashlib.sha256(json.dumps(item).encode()).digest()
    rng = random.Random(seed)
    values = [rng.uniform(-1, 1) for _ in range(dimensions)]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [v / norm for v in values]


def _encoded(vector: list[float], fmt: str) -> list[float] | str:
    if fmt != "base64":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _reply(data: dict[str, Any]) -> OperationReply:
    return OperationReply(data=data, content=json.dumps(data).encode(), model=data.get("model", ""))


def _event(name: str, data: dict[str, Any]) -> SSEEvent:
    head = f"event: {name}\n" if name else ""
    raw = f"{head}data: {json.dumps(data)}\n\n".encode()
    return SSEEvent(raw=raw, data=data, event=name)


class MockOperations:
    """Mixin for ``MockProvider``: the non-chat operations."""

    default_model: str

    def _model(self, body: dict[str, Any]) -> str:
        model = str(body.get("model") or self.default_model)
        if not model_known(model, self.default_model):
            raise model_not_found(model)
        return model

    def mock_text(self, prompt: str) -> str:  # provided by MockProvider
        raise NotImplementedError

    async def embed(self, body: dict[str, Any], headers: Any = None) -> OperationReply:
        model = self._model(body)
        dims = body.get("dimensions") or DEFAULT_DIMENSIONS.get(model, 1536)
        fmt = body.get("encoding_format") or "float"
        items = _inputs(body.get("input"))
        data = [
            {"object": "embedding", "index": i, "embedding": _encoded(_vector(item, dims), fmt)}
            for i, item in enumerate(items)
        ]
        tokens = sum(_tokens(item) for item in items)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return _reply({"object": "list", "data": data, "model": model, "usage": usage})

    def _response(self, body: dict[str, Any], status: str = "completed") -> dict[str, Any]:
        model = self._model(body)
        prompt = json.dumps(body.get("input") or "")
        text = self.mock_text(prompt)
        tokens_in, tokens_out = max(1, len(prompt) // 4), max(1, len(text) // 4)
        message = {
            "type": "message",
            "id": f"msg_mock_{uuid.uuid4().hex[:16]}",
            "status": status,
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
        return {
            "id": f"resp_mock_{uuid.uuid4().hex[:24]}",
            "object": "response",
            "created_at": int(time.time()),
            "status": status,
            "model": model,
            "output": [message],
            "usage": {
                "input_tokens": tokens_in,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": tokens_out,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": tokens_in + tokens_out,
            },
        }

    async def respond(self, body: dict[str, Any], headers: Any = None) -> OperationReply:
        return _reply(self._response(body))

    async def respond_stream(
        self, body: dict[str, Any], headers: Any = None
    ) -> AsyncIterator[SSEEvent]:
        done = self._response(body)
        started = {**done, "status": "in_progress", "output": [], "usage": None}
        yield _event("response.created", {"type": "response.created", "response": started})
        text = done["output"][0]["content"][0]["text"]
        for i, word in enumerate(text.split(" ")):
            delta = {"type": "response.output_text.delta", "output_index": 0}
            delta.update(content_index=0, delta=word if i == 0 else " " + word)
            yield _event("response.output_text.delta", delta)
        yield _event("response.completed", {"type": "response.completed", "response": done})

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        model = self._model(body)
        prompt = json.dumps(body.get("prompt") or "")
        text = self.mock_text(prompt)
        tokens_in, tokens_out = max(1, len(prompt) // 4), max(1, len(text) // 4)
        return {
            "id": f"cmpl-mock-{uuid.uuid4().hex[:16]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": tokens_in,
                "completion_tokens": tokens_out,
                "total_tokens": tokens_in + tokens_out,
            },
        }

    async def complete_text(self, body: dict[str, Any], headers: Any = None) -> OperationReply:
        return _reply(self._completion(body))

    async def complete_text_stream(
        self, body: dict[str, Any], headers: Any = None
    ) -> AsyncIterator[SSEEvent]:
        whole = self._completion(body)
        chunk = {k: whole[k] for k in ("id", "object", "created", "model")}
        choice = {"index": 0, "logprobs": None, "finish_reason": "stop"}
        yield _event("", {**chunk, "choices": [{**choice, "text": whole["choices"][0]["text"]}]})
        # Always, like the gateway asks of real providers; the relay hides it if unasked.
        yield _event("", {**chunk, "choices": [], "usage": whole["usage"]})
        yield SSEEvent(raw=b"data: [DONE]\n\n", done=True)

    async def moderate(self, body: dict[str, Any], headers: Any = None) -> OperationReply:
        model = self._model({"model": body.get("model") or "omni-moderation-latest"})
        result = {
            "flagged": False,
            "categories": dict.fromkeys(MODERATION_CATEGORIES, False),
            "category_scores": dict.fromkeys(MODERATION_CATEGORIES, 0.0),
        }
        results = [result for _ in _inputs(body.get("input"))]
        reply = {"id": f"modr-mock-{uuid.uuid4().hex[:16]}", "model": model, "results": results}
        return _reply(reply)
