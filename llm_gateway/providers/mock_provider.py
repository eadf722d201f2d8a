"""A deterministic offline provider.

Used when no OpenAI key is configured (so `make run` and the demo work on a
fresh machine) and as the last resort when every real provider failed. Its
answers say they are mock answers, and the call record says ``provider=mock``.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator

from common.tokens import estimate_prompt_tokens, estimate_tokens, prompt_text
from llm_gateway.interface import LLMProvider, LLMRequest, LLMResponse, StreamChunk, TokenUsage
from llm_gateway.providers.mock_operations import MockOperations, model_known, model_not_found

_TOPICS = (
    "Start with the smallest change that proves the idea, then measure it.",
    "Cost, latency and reliability pull against each other; pick the one that matters most here.",
    "Prefer managed services where the team lacks operations depth.",
    "Write down the assumptions so the decision can be revisited when they change.",
)


def mock_answer(prompt: str) -> str:
    digest = int(hashlib.sha256(prompt.encode()).hexdigest(), 16)
    first = " ".join(prompt.split()[:12]) or "your request"
    advice = " ".join(_TOPICS[(digest + i) % len(_TOPICS)] for i in range(2))
    return f"[mock answer] About “{first}”: {advice}"


class MockProvider(MockOperations, LLMProvider):
    name = "mock"
    kind = "mock"

    def __init__(self, model: str = "mock-model") -> None:
        self.default_model = model

    def mock_text(self, prompt: str) -> str:
        return mock_answer(prompt)

    def _checked_model(self, request: LLMRequest) -> str:
        model = request.model or self.default_model
        if not model_known(model, self.default_model):
            raise model_not_found(model)
        return model

    def _answer(self, request: LLMRequest) -> tuple[str, TokenUsage, str]:
        messages = request.to_messages()
        text = mock_answer(prompt_text(messages))
        finish = "stop"
        if request.max_tokens is not None and estimate_tokens(text) > request.max_tokens:
            text, finish = text[: max(1, request.max_tokens) * 4], "length"
        prompt_tokens = estimate_prompt_tokens(messages)
        completion = estimate_tokens(text)
        usage = TokenUsage(prompt_tokens, completion, prompt_tokens + completion)
        return text, usage, finish

    async def complete(self, request: LLMRequest) -> LLMResponse:
        started = time.monotonic()
        model = self._checked_model(request)
        text, usage, finish = self._answer(request)
        raw = {
            "id": f"chatcmpl-mock-{uuid.uuid4().hex[:16]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            },
        }
        return LLMResponse(
            text, model, self.name, usage, time.monotonic() - started, finish, raw=raw
        )

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamChunk]:
        model = self._checked_model(request)
        text, usage, finish = self._answer(request)
        base = {
            "id": f"chatcmpl-mock-{uuid.uuid4().hex[:16]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        words = text.split(" ")
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            raw = {
                **base,
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            }
            yield StreamChunk(delta=piece, raw=raw, model=model)
        raw = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
        yield StreamChunk(raw=raw, finish_reason=finish, model=model)
        usage_raw = {
            **base,
            "choices": [],
            "usage": {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            },
        }
        yield StreamChunk(raw=usage_raw, usage=usage, model=model)
