"""One path for every non-chat operation: budget, route, call, usage, price, record.

``OperationManager`` is the chat manager with a different call at its centre:
the plan (providers that serve the model, failover, the mock fallback), the
retries, the budget reservation and the single record per call are the
manager's own, so embeddings or a Responses stream are limited, billed and
logged exactly like a chat completion. What differs per operation (which
provider method, where the usage is) comes from ``llm_gateway.operations``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from calls.models import CallStatus
from calls.services import CallRecord
from common.tokens import estimate_tokens
from llm_gateway.interface import LLMInvalidRequestError, LLMRequest, LLMResponse, TokenUsage
from llm_gateway.manager import (
    Attempt,
    CallContext,
    LLMManager,
    _chain,
    _fill_success,
    _outgoing,
    _price,
    _record_failure,
    _write,
    first_of,
    streamed_answer_body,
)
from llm_gateway.operations import (
    EMBEDDINGS,
    EVENT_READERS,
    RESPONSES,
    OperationReply,
    OperationSpec,
    SSEEvent,
    StreamProgress,
    supports,
)


@dataclass
class OperationResult:
    reply: OperationReply
    record: CallRecord
    usage: TokenUsage
    text: str


def operation_request(
    spec: OperationSpec, body: dict[str, Any], *, prompt: str, input_tokens: int | None = None
) -> LLMRequest:
    """The request as the manager's plan and budgets see it: model, prompt, output cap.

    ``input_tokens`` (token arrays, counted exactly) stands in for the prompt's
    estimate when the budget reservation sizes the call."""
    limit = body.get("max_output_tokens") or body.get("max_tokens")
    metadata = {"input_tokens": input_tokens} if input_tokens is not None else {}
    return LLMRequest(
        messages=[{"role": "user", "content": prompt}],
        model=body.get("model"),
        # An embedding generates nothing: reserve its input only.
        max_tokens=1 if spec.name == EMBEDDINGS else limit,
        metadata=metadata,
        passthrough=True,
    )


class OperationManager(LLMManager):
    """``LLMManager`` for one operation (see the module docstring)."""

    def __init__(self, spec: OperationSpec, **options: Any) -> None:
        if not spec.model_fallback:
            options.setdefault("fallback_models", [])
        super().__init__(**options)
        self.spec = spec

    async def attempts(self, request: LLMRequest, *, stream: bool) -> list[Attempt]:
        plan = await self.aplan(request)
        plan = [a for a in plan if supports(a.provider, self.spec, stream=stream)]
        if not plan:
            raise LLMInvalidRequestError(
                f"No provider serving '{request.model}' supports {self.spec.path}.",
                code="unsupported_operation",
            )
        return plan

    def _new_record(self, ctx: CallContext, request: LLMRequest, *, stream: bool) -> CallRecord:
        record = super()._new_record(ctx, request, stream=stream)
        record.operation = self.spec.name
        return record

    def _begin(self, request: LLMRequest, ctx: CallContext | None, *, stream: bool) -> CallContext:
        ctx = self._context(request, None, ctx)
        self._new_record(ctx, request, stream=stream)
        return ctx

    # --- whole answers ----------------------------------------------------------------

    async def run(
        self,
        request: LLMRequest,
        body: dict[str, Any],
        *,
        context: CallContext | None = None,
        validate: bool = False,
    ) -> OperationResult:
        ctx = self._begin(request, context, stream=False)
        record = ctx.record
        assert record is not None
        try:
            request = await _outgoing(request, record, ctx, self._kinds(request))
            headers = request.upstream_headers or None
            method = self.spec.method
            reply, attempt = await self.first_answer(
                await self.attempts(request, stream=False),
                ctx,
                record,
                lambda a: getattr(a.provider, method)({**body, "model": a.model}, headers),
            )
        except BaseException as exc:
            await _record_failure(record, ctx, exc)
            raise
        result = await self._answered(reply, attempt, record, ctx)
        if validate:
            await self._validated(request, result, ctx)
        await _write(record, ctx)
        return result

    async def _answered(
        self, reply: OperationReply, attempt: Attempt, record: CallRecord, ctx: CallContext
    ) -> OperationResult:
        usage = self.spec.usage(reply.data)
        model = _reported(reply.model, attempt)
        await self._priced(record, attempt.provider.kind, model, usage, ctx)
        _fill_success(record, ctx, model, usage, self.spec.finish(reply.data))
        record.response_body = stored_answer(self.spec, reply.data)
        _note_response_id(record, reply.data)
        return OperationResult(reply, record, usage, self.spec.text(reply.data))

    async def _validated(
        self, request: LLMRequest, result: OperationResult, ctx: CallContext
    ) -> None:
        """The output text through the agent's validation rules, kept with the record."""
        record = result.record
        answer = LLMResponse(
            result.text, record.model, record.provider, finish_reason=record.finish_reason
        )
        validation = await self._validate(request, answer, ctx)
        record.metadata["validation"] = record.validation = validation

    async def _priced(
        self, record: CallRecord, kind: str, model: str, usage: TokenUsage, ctx: CallContext
    ) -> None:
        if self.spec.free:  # recorded, counted, never billed
            record.priced = True
            return
        await _price(record, kind, model, usage, ctx)

    # --- streams ------------------------------------------------------------------------

    async def stream(
        self, request: LLMRequest, body: dict[str, Any], *, context: CallContext | None = None
    ) -> AsyncIterator[SSEEvent]:
        """Relay the provider's events; the record is written when the stream ends,
        however it ends (finished, failed, or the client gone)."""
        ctx = self._begin(request, context, stream=True)
        record = ctx.record
        assert record is not None
        progress, reader = StreamProgress(), EVENT_READERS[self.spec.name]
        attempt = None
        try:
            request = await _outgoing(request, record, ctx, self._kinds(request))
            headers = request.upstream_headers or None
            method = self.spec.stream_method
            (first, rest), attempt = await self.first_answer(
                await self.attempts(request, stream=True),
                ctx,
                record,
                lambda a: first_of(
                    getattr(a.provider, method)({**body, "model": a.model}, headers)
                ),
            )
            async for event in _chain(first, rest):
                if event.data is not None:
                    _take(progress, reader, event.data, record, ctx)
                yield event
        except BaseException as exc:
            await self._stream_end(record, ctx, progress, attempt, exc)
            raise
        await self._stream_end(record, ctx, progress, attempt, None)

    async def _stream_end(
        self,
        record: CallRecord,
        ctx: CallContext,
        progress: StreamProgress,
        attempt: Attempt | None,
        exc: BaseException | None,
    ) -> None:
        text = "".join(progress.text)
        usage = progress.usage
        if usage is None and text:  # cut before the usage came: count what was streamed
            prompt = estimate_tokens(str((record.request_body or {}).get("input", "")))
            usage = TokenUsage(prompt, estimate_tokens(text), prompt + estimate_tokens(text))
            record.metadata["usage_estimated"] = True
        usage = usage or TokenUsage()
        model = progress.model or record.model
        kind = attempt.provider.kind if attempt is not None else record.provider_kind
        await self._priced(record, kind, model, usage, ctx)
        _fill_success(record, ctx, model, usage, progress.finish_reason)
        record.response_body = streamed_answer_body(
            text, progress.finish_reason, progress.response_id
        )
        if progress.reasoning_tokens:
            record.metadata["reasoning_tokens"] = progress.reasoning_tokens
        if progress.response_id and self.spec.name == RESPONSES:  # a stored response's owner
            record.metadata["response_id"] = progress.response_id
        if exc is not None:
            await _record_failure(record, ctx, exc)
            return
        if progress.failure is not None:  # the provider said so inside the stream
            _stream_failed(record, progress.failure)
        await _write(record, ctx)


def _take(
    progress: StreamProgress, reader: Any, data: dict[str, Any], record: CallRecord, ctx: Any
) -> None:
    had_text = bool(progress.text)
    reader(progress, data)
    if not had_text and progress.text and record.ttft_ms is None:
        record.ttft_ms = (time.monotonic() - ctx.started) * 1000


def _stream_failed(record: CallRecord, failure: dict[str, Any]) -> None:
    record.status = CallStatus.ERROR
    record.error_type = "ProviderStreamError"
    record.error_message = str(failure.get("message") or failure)[:2000]
    record.http_status = 502


def _reported(answered: str, attempt: Attempt) -> str:
    """Azure answers with the underlying model, which prices; an empty answer or a
    deployment name is replaced by the model the attempt asked for."""
    upstream = getattr(attempt.provider, "upstream_model", lambda m: m)(attempt.model)
    if not answered or answered == upstream != attempt.model:
        return attempt.model
    return answered


def stored_answer(spec: OperationSpec, data: dict[str, Any]) -> Any:
    """What the call log keeps of an answer: never the vectors of an embedding
    (kilobytes per input, useless to read), their count and size instead."""
    if spec.name != EMBEDDINGS:
        return data
    items = data.get("data") or []
    first = items[0].get("embedding") if items and isinstance(items[0], dict) else None
    return {
        "object": data.get("object"),
        "model": data.get("model"),
        "embeddings": len(items),
        "dimensions": len(first) if isinstance(first, list) else None,
        "usage": data.get("usage"),
    }


def _note_response_id(record: CallRecord, data: dict[str, Any]) -> None:
    if data.get("object") == "response" and isinstance(data.get("id"), str):
        record.metadata["response_id"] = data["id"]
        details = (data.get("usage") or {}).get("output_tokens_details") or {}
        if details.get("reasoning_tokens"):
            record.metadata["reasoning_tokens"] = details["reasoning_tokens"]
