"""Routing, retries, failover, fallback and the record of every call.

Both entry points (the Python API and the HTTP API) come through
``LLMManager`` so every call is priced, logged and validated the same way.
The plan for a request is a list of attempts: the requested model on each
provider that serves it, then each ``LLM_FALLBACK_MODELS`` model, then the mock
when ``LLM_MOCK_FALLBACK`` is on. Transient errors are retried within an
attempt; the caller's own mistakes (400, unknown model) end the call at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from calls.models import CallStatus
from calls.recorder import record_writer
from calls.services import CallRecord, acall_record
from calls.spool import call_started_hook
from common.tokens import estimate_prompt_tokens, estimate_tokens
from costs.pricing import aprice_for, call_cost, price_ledger_fields
from costs.reservations import areserve_for_call
from llm_gateway import telemetry
from llm_gateway.attribution import AttributionError, request_attribution_check
from llm_gateway.circuit import breaker
from llm_gateway.interface import (
    LLMBudgetExceededError,
    LLMError,
    LLMInvalidRequestError,
    LLMProvider,
    LLMProviderError,
    LLMRateLimitError,
    LLMRequest,
    LLMResponse,
    StreamChunk,
    TokenUsage,
)
from llm_gateway.provider_errors import answered_status
from llm_gateway.provider_registry import adefault_providers, default_providers, mock_active
from llm_gateway.providers.mock_provider import MockProvider
from llm_gateway.retry import RetryPolicy, call_with_retries
from llm_gateway.routing import providers_for
from validation.feedback import feedback_record
from validation.policy import validation_retry_model
from validation.validator import ResponseValidator

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class CallContext:
    """Who is calling and how; the HTTP API fills in the key."""

    agent_name: str = ""
    gateway_key_id: int | None = None
    key_prefix: str = ""
    # The key's own agent, when X-Agent-Name labels the call differently (budgets).
    key_agent_name: str = ""
    source: str = "python"
    operation: str = "chat"
    request_id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=timezone.now)
    started: float = field(default_factory=time.monotonic)
    request_body: Any = None
    # Set by the manager: the call's record as it is being built (provider, retries…).
    record: CallRecord | None = None
    # The budget reservation held between the budget check and the record (settled once).
    reservation: Any = None
    # The server's API path writes records in the background (calls.recorder);
    # everything else writes before returning.
    defer_record: bool = False
    # Each provider try's times, kept only while spans are exported (llm_gateway.telemetry).
    attempts: list[telemetry.AttemptSpan] | None = field(default_factory=telemetry.attempts_list)


@dataclass(frozen=True)
class Attempt:
    provider: LLMProvider
    model: str
    fallback: str = ""  # "", "provider", "model" or "mock"


class LLMManager:
    def __init__(
        self,
        providers: list[LLMProvider] | None = None,
        *,
        fallback_models: list[str] | None = None,
        mock_fallback: bool | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> None:
        # Built from the admin's Provider rows (and the environment) unless given.
        self.routed = providers is None
        self.providers = providers if providers is not None else default_providers()
        self.fallback_models = (
            fallback_models if fallback_models is not None else list(settings.LLM_FALLBACK_MODELS)
        )
        # None (LLM_MOCK_FALLBACK unset): on only while no provider key is configured.
        self.mock_fallback = settings.LLM_MOCK_FALLBACK if mock_fallback is None else mock_fallback
        self.max_retries = settings.LLM_MAX_RETRIES if max_retries is None else max_retries
        self.timeout = float(settings.LLM_TIMEOUT if timeout is None else timeout)
        self.default_model = (
            self.providers[0].default_model if self.providers else settings.LLM_MODEL
        )

    # --- planning -------------------------------------------------------------

    def plan(self, request: LLMRequest) -> list[Attempt]:
        primary = request.model or self.default_model
        attempts: list[Attempt] = []
        for index, model in enumerate([primary, *self.fallback_models]):
            serving = providers_for(model, self.providers)
            serving = [p for p in serving if request.protocol in p.protocols]
            for rank, provider in enumerate(serving):
                kind = "" if index == 0 and rank == 0 else ("provider" if index == 0 else "model")
                attempts.append(Attempt(provider, model, kind))
        enabled = self._mock_by_default() if self.mock_fallback is None else self.mock_fallback
        mock = request.protocol in MockProvider.protocols and enabled
        if mock and not any(isinstance(a.provider, MockProvider) for a in attempts):
            attempts.append(Attempt(MockProvider(model="mock-fallback"), "mock-fallback", "mock"))
        return _dedupe(attempts)

    def _mock_by_default(self) -> bool:
        """No provider key anywhere (the demo): the mock may answer last. With a
        real provider configured a failed call must fail, never be made up."""
        if self.routed:
            return mock_active()
        return all(isinstance(p, MockProvider) for p in self.providers)

    async def aplan(self, request: LLMRequest) -> list[Attempt]:
        """``plan`` with the Provider rows refreshed first: ``__init__`` may run
        inside the event loop, where it cannot query and reads the cache only."""
        if self.routed:
            self.providers = await adefault_providers()
        return self.plan(request)

    def _policy(self, ctx: CallContext) -> RetryPolicy:
        return RetryPolicy(max_retries=self.max_retries, deadline=ctx.started + self.timeout)

    # --- non-streaming ------------------------------------------------------------

    async def generate_response(
        self,
        request: LLMRequest,
        validate_response: bool = False,
        agent_name: str | None = None,
        *,
        context: CallContext | None = None,
    ) -> LLMResponse:
        ctx = self._context(request, agent_name, context)
        record = self._new_record(ctx, request, stream=False)
        try:
            request = await _outgoing(request, record, ctx, self._kinds(request))
            response = await self._run_plan(request, ctx, record)
        except BaseException as exc:
            await _record_failure(record, ctx, exc)
            raise
        usage = response.token_usage
        await _price(record, response.provider_kind, response.model, usage, ctx)
        response.token_usage.estimated_cost = record.cost
        response.response_time = time.monotonic() - ctx.started
        _fill_success(record, ctx, response.model, usage, response.finish_reason)
        record.response_body = response.raw if response.raw is not None else response.content
        response.metadata.update(_metadata(record))
        if validate_response:
            response.metadata["validation"] = await self._validate(request, response, ctx)
            record.metadata["validation"] = response.metadata["validation"]
            record.validation = response.metadata["validation"]
        await _write(record, ctx)
        if validate_response and not response.metadata["validation"]["is_valid"]:
            return await self._retry_invalid(request, response, ctx)
        return response

    async def _retry_invalid(
        self, request: LLMRequest, response: LLMResponse, ctx: CallContext
    ) -> LLMResponse:
        """Ask once more on the agent's retry model (validation policy), if it has one.

        Both calls are recorded; the retry names the first in its metadata. A
        retry is never retried again, and a retry that fails keeps the first answer.
        """
        model = await validation_retry_model(ctx.agent_name)
        if not model or model == response.model or request.metadata.get("validation_retry_of"):
            return response
        retry = request.with_model(model)
        retry.metadata = {**request.metadata, "validation_retry_of": str(ctx.request_id)}
        again = CallContext(
            agent_name=ctx.agent_name,
            gateway_key_id=ctx.gateway_key_id,
            key_prefix=ctx.key_prefix,
            key_agent_name=ctx.key_agent_name,
            source=ctx.source,
            operation=ctx.operation,
            defer_record=ctx.defer_record,
        )
        try:
            second = await self.generate_response(retry, validate_response=True, context=again)
        except LLMError:
            logger.warning("validation retry on %s failed; keeping the first answer", model)
            return response
        second.metadata["validation_retry_of"] = str(ctx.request_id)
        if ctx.record is not None and again.record is not None:
            ctx.record = again.record  # headers name the call that answered
            ctx.request_id = again.request_id
        return second

    async def _run_plan(
        self, request: LLMRequest, ctx: CallContext, record: CallRecord
    ) -> LLMResponse:
        response, attempt = await self.first_answer(
            await self.aplan(request),
            ctx,
            record,
            lambda a: a.provider.complete(_attempt_request(request, a.model, ctx)),
        )
        response.provider_kind = attempt.provider.kind
        return response

    async def first_answer(
        self,
        attempts: list[Attempt],
        ctx: CallContext,
        record: CallRecord,
        invoke: Callable[[Attempt], Awaitable[T]],
    ) -> tuple[T, Attempt]:
        """The first attempt that answers (each retried per the policy), in plan order.

        Every operation (chat, embeddings, responses…) fails over through here."""
        last_error: LLMError | None = None
        for attempt in attempts:
            if not breaker.allows(attempt.provider.name):
                record.metadata.setdefault("skipped", []).append(attempt.provider.name)
                continue
            _apply_attempt(record, attempt)
            try:
                answer, retries = await call_with_retries(
                    telemetry.attempt_timed(
                        ctx.attempts, attempt.provider, attempt.model, lambda a=attempt: invoke(a)
                    ),
                    self._policy(ctx),
                )
            except LLMError as error:
                record.retries += getattr(error, "retries", 0)
                last_error = self._after_failure(attempt, error)
                continue
            record.retries += retries
            breaker.record_success(attempt.provider.name)
            return answer, attempt
        raise last_error or LLMProviderError("No provider is available for this model.")

    def _after_failure(self, attempt: Attempt, error: LLMError) -> LLMError:
        """Note the failure; re-raise at once when the request itself is at fault."""
        logger.warning(
            "provider %s failed for model %s: %s (%s)",
            attempt.provider.name,
            attempt.model,
            type(error).__name__,
            error.code,
        )
        if isinstance(error, LLMInvalidRequestError):
            raise error
        # A 429 says "slower", not "down": opening the circuit on a rate-limit storm
        # would turn the provider's Retry-After into our own 502s for everyone.
        if not isinstance(error, LLMRateLimitError):
            breaker.record_failure(attempt.provider.name)
        return error

    # --- streaming ---------------------------------------------------------------------

    async def stream_response(
        self,
        request: LLMRequest,
        agent_name: str | None = None,
        *,
        context: CallContext | None = None,
    ) -> AsyncIterator[StreamChunk]:
        """Yield chunks as they arrive; the last one carries the usage.

        Retries and failover happen only before the first chunk: once text has
        reached the caller, switching providers would splice two answers.
        """
        ctx = self._context(request, agent_name, context)
        record = self._new_record(ctx, request, stream=True)
        state = _StreamState()
        try:
            request = await _outgoing(request, record, ctx, self._kinds(request))
            first, rest, attempt = await self._open_stream(request, ctx, record)
            async for chunk in _chain(first, rest):
                state.take(chunk, ctx)
                yield chunk
        except BaseException as exc:
            await _record_stream_end(record, ctx, state, exc)
            raise
        await _record_stream_end(record, ctx, state, None, attempt.provider.kind)

    async def _open_stream(self, request: LLMRequest, ctx: CallContext, record: CallRecord):
        async def open_one(a: Attempt) -> tuple[StreamChunk, AsyncIterator[StreamChunk]]:
            return await first_of(a.provider.stream(request.with_model(a.model)))

        (first, rest), attempt = await self.first_answer(
            await self.aplan(request), ctx, record, open_one
        )
        return first, rest, attempt

    # --- helpers ----------------------------------------------------------------------------

    def _context(
        self, request: LLMRequest, agent_name: str | None, ctx: CallContext | None
    ) -> CallContext:
        ctx = ctx or CallContext()
        ctx.agent_name = agent_name or ctx.agent_name or request.agent_name or ""
        return ctx

    def _kinds(self, request: LLMRequest) -> list[str]:
        """Provider kinds that may serve the request's model (for its price)."""
        model = request.model or self.default_model
        return [p.kind for p in providers_for(model, self.providers)]

    def call_record_start(
        self, ctx: CallContext, request: LLMRequest, *, stream: bool
    ) -> CallRecord:
        """The record a call starts with, for calls answered outside the plan (token counts)."""
        return self._new_record(ctx, request, stream=stream)

    def _new_record(self, ctx: CallContext, request: LLMRequest, *, stream: bool) -> CallRecord:
        """The call's record as it starts. Refuses bad attribution first (the
        Python API's check; the HTTP API's headers were checked already)."""
        try:
            request_attribution_check(request)
        except AttributionError as error:
            raise LLMInvalidRequestError(error.message, code="invalid_attribution") from None
        body = ctx.request_body
        if body is None:
            body = {"messages": request.to_messages(), "model": request.model, **request.extra}
        ctx.record = CallRecord(
            id=ctx.request_id,
            created_at=ctx.created_at,
            agent_name=ctx.agent_name,
            gateway_key_id=ctx.gateway_key_id,
            key_prefix=ctx.key_prefix,
            key_agent_name=ctx.key_agent_name,
            source=ctx.source,
            operation=ctx.operation,
            requested_model=request.model or self.default_model,
            stream=stream,
            request_body=body,
            metadata=dict(request.metadata),
            **telemetry.record_attribution(request),
        )
        return ctx.record

    async def _validate(self, request: LLMRequest, response: LLMResponse, ctx: CallContext) -> dict:
        def run() -> dict:
            result = ResponseValidator().validate(
                response.content,
                agent_name=ctx.agent_name or None,
                request=request,
                finish_reason=response.finish_reason,
            )
            return result.to_dict()

        return await sync_to_async(run)()

    # --- cache hits ----------------------------------------------------------------------------

    async def record_cache_hit(
        self, request: LLMRequest, answer: Any, *, context: CallContext, stream: bool
    ) -> CallRecord:
        """Record an answer served from the response cache (``llm_gateway.cache``).

        No provider was asked and no budget is checked or charged: the cost is
        0 and ``saved_cost`` is what the stored usage costs at today's price.
        Provider "cache"; the answer's origin goes in ``metadata["cache"]``.
        """
        record = self._new_record(context, request, stream=stream)
        usage = TokenUsage(
            answer.prompt_tokens, answer.completion_tokens, cached_tokens=answer.cached_tokens
        )
        saved = CallRecord(id=record.id, created_at=record.created_at)
        await _price(saved, answer.provider_kind, answer.model, usage, context)
        record.provider, record.provider_kind = "cache", answer.provider_kind
        record.cache_hit, record.saved_cost, record.priced = True, saved.cost, saved.priced
        _fill_success(record, context, answer.model, usage, answer.finish_reason)
        record.ttft_ms = record.latency_ms if stream else None
        record.response_body = answer.completion
        record.validation = answer.validation  # the verdict replayed with the answer is kept
        record.metadata["cache"] = {
            **record.metadata.get("cache", {}),
            "source_request_id": answer.request_id,
            "source_provider": answer.provider,
            "stored_at": answer.stored_at,
        }
        await _write(record, context)
        return record

    async def record_feedback(
        self, request_id: Any, score: float, *, comment: str | None = None, name: str | None = None
    ) -> Any:
        """Score a call, as ``POST /api/v1/feedback`` does (in-process: any call).
        Raises ``validation.feedback.FeedbackError`` for a bad score or unknown id."""
        return await sync_to_async(feedback_record)(
            request_id=request_id, score=score, comment=comment, name=name, any_key=True
        )

    async def health_check(self) -> dict[str, Any]:
        """Each provider's cheap check (never a completion) plus its circuit state."""
        results = await asyncio.gather(*(p.health_check() for p in self.providers))
        for result in results:
            result["circuit"] = breaker.state(result["provider"])
        return {
            "healthy": any(r["healthy"] and r["circuit"] != "open" for r in results),
            "providers": list(results),
        }


class _StreamState:
    def __init__(self) -> None:
        self.text: list[str] = []
        self.usage: TokenUsage | None = None
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.ttft: float | None = None
        self.response_id = ""

    def take(self, chunk: StreamChunk, ctx: CallContext) -> None:
        if not self.response_id and chunk.raw:
            self.response_id = chunk_answer_id(chunk.raw)
        if chunk.delta:
            if self.ttft is None:
                self.ttft = (time.monotonic() - ctx.started) * 1000
            self.text.append(chunk.delta)
        if chunk.usage is not None:
            self.usage = chunk.usage
        self.finish_reason = chunk.finish_reason or self.finish_reason
        self.model = chunk.model or self.model


def chunk_answer_id(raw: dict[str, Any]) -> str:
    """The upstream's id of a streamed answer: on every OpenAI chunk, in
    Anthropic's ``message_start`` (what a whole answer's ``id`` is)."""
    found = raw.get("id")
    if found is None and isinstance(message := raw.get("message"), dict):
        found = message.get("id")
    return found if isinstance(found, str) else ""


def streamed_answer_body(text: str, finish_reason: str | None, answer_id: str) -> dict[str, Any]:
    """What the call log keeps of a streamed answer: its text, finish and id."""
    body: dict[str, Any] = {"content": text, "finish_reason": finish_reason}
    if answer_id:
        body["id"] = answer_id
    return body


async def _chain(
    first: StreamChunk, rest: AsyncIterator[StreamChunk]
) -> AsyncIterator[StreamChunk]:
    try:
        yield first
        async for chunk in rest:
            yield chunk
    finally:
        closer = getattr(rest, "aclose", None)
        if closer is not None:
            await closer()  # release the upstream connection on early exit


async def first_of(stream: AsyncIterator[T]) -> tuple[T, AsyncIterator[T]]:
    """The stream's first item and the stream: opening it is one retryable attempt."""
    iterator = stream.__aiter__()
    try:
        return await iterator.__anext__(), iterator
    except StopAsyncIteration as exc:
        raise LLMProviderError("The provider sent an empty stream.") from exc


def _attempt_request(request: LLMRequest, model: str, ctx: CallContext) -> LLMRequest:
    """The request for one attempt (a copy: the caller's object is never changed)."""
    attempt = request.with_model(model)
    attempt.call_id = str(ctx.request_id)
    return attempt


def _dedupe(attempts: list[Attempt]) -> list[Attempt]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for attempt in attempts:
        key = (attempt.provider.name, attempt.model)
        if key not in seen:
            seen.add(key)
            unique.append(attempt)
    return unique


def _apply_attempt(record: CallRecord, attempt: Attempt) -> None:
    record.provider = attempt.provider.name
    record.provider_kind = attempt.provider.kind
    record.model = attempt.model
    record.fallback = attempt.fallback


def _metadata(record: CallRecord) -> dict[str, Any]:
    return {
        "request_id": str(record.id),
        "provider": record.provider,
        "retries": record.retries,
        "fallback": record.fallback,
        "cost_usd": str(record.cost),
        "priced": record.priced,
    }


async def _price(
    record: CallRecord, kind: str, model: str, usage: TokenUsage, ctx: CallContext
) -> None:
    """Cost at the price in force when the call started; unknown models cost 0, flagged."""
    if kind == "mock":
        return
    price = await aprice_for(model or record.model, provider=kind, at=ctx.created_at)
    record.ledger_prices = price_ledger_fields(price)
    record.priced = price is not None
    # Anthropic's cache writes are inside prompt_tokens (OpenAI style) but billed
    # at their own rates (5-minute and 1-hour): kept on the record for repricing.
    writes = getattr(usage, "cache_write_tokens", 0)
    writes_1h = getattr(usage, "cache_write_1h_tokens", 0)
    if writes:
        record.metadata["cache_write_tokens"] = writes
    if writes_1h:
        record.metadata["cache_write_1h_tokens"] = writes_1h
    record.cost = call_cost(
        price,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
        cache_write_tokens=writes,
        cache_write_1h_tokens=writes_1h,
        writes_in_prompt=True,
    )


def _fill_success(
    record: CallRecord, ctx: CallContext, model: str, usage: TokenUsage, finish: str | None
) -> None:
    record.model = model or record.model
    record.prompt_tokens = usage.prompt_tokens
    record.completion_tokens = usage.completion_tokens
    record.cached_tokens = usage.cached_tokens
    record.finish_reason = finish or ""
    record.latency_ms = (time.monotonic() - ctx.started) * 1000


async def _record_failure(record: CallRecord, ctx: CallContext, exc: BaseException) -> None:
    call_failure_fill(record, ctx, exc)
    await _write(record, ctx)


def call_failure_fill(record: CallRecord, ctx: CallContext, exc: BaseException) -> None:
    """The record of a call that ended with ``exc``: its status, error and latency."""
    record.latency_ms = (time.monotonic() - ctx.started) * 1000
    if isinstance(exc, LLMError):
        blocked = isinstance(exc, LLMBudgetExceededError)
        record.status = CallStatus.BLOCKED if blocked else CallStatus.ERROR
        record.error_type = type(exc).__name__
        record.error_message = exc.message
        # What the caller was answered; the provider's own status stays in metadata.
        record.http_status = answered_status(exc)
        if exc.status_code and exc.status_code != record.http_status:
            record.metadata["upstream_status"] = exc.status_code
    elif isinstance(exc, asyncio.CancelledError | GeneratorExit):
        record.status = CallStatus.CLIENT_DISCONNECTED
        record.error_type = "ClientDisconnected"
    else:
        record.status = CallStatus.ERROR
        record.error_type = type(exc).__name__
        record.error_message = str(exc)
        record.http_status = 500


async def _record_stream_end(
    record: CallRecord,
    ctx: CallContext,
    state: _StreamState,
    exc: BaseException | None,
    kind: str | None = None,
) -> None:
    text = "".join(state.text)
    usage = state.usage
    if usage is None and text:
        # No usage chunk (the stream was cut): count what was streamed.
        body = record.request_body if isinstance(record.request_body, dict) else {}
        messages = body.get("messages")
        prompt = estimate_prompt_tokens(messages) if isinstance(messages, list) else 0
        usage = TokenUsage(prompt, estimate_tokens(text), prompt + estimate_tokens(text))
        record.metadata["usage_estimated"] = True
    usage = usage or TokenUsage()
    await _price(record, kind or record.provider_kind, state.model or record.model, usage, ctx)
    _fill_success(record, ctx, state.model or record.model, usage, state.finish_reason)
    record.ttft_ms = state.ttft
    record.response_body = streamed_answer_body(text, state.finish_reason, state.response_id)
    if exc is None:
        await _write(record, ctx)
        return
    await _record_failure(record, ctx, exc)


async def _outgoing(
    request: LLMRequest, record: CallRecord, ctx: CallContext, kinds: list[str]
) -> LLMRequest:
    """The request as every operation's providers get it: within budget (perhaps
    downgraded), carrying the gateway's ``traceparent`` in ``upstream_headers``."""
    request = await _enforce_budgets(request, record, ctx, kinds)
    return telemetry.request_traced(request, record)


async def _enforce_budgets(
    request: LLMRequest, record: CallRecord, ctx: CallContext, kinds: list[str]
) -> LLMRequest:
    """Reserve the request's worst-case cost on the budgets in its scope before
    any provider is asked (costs.reservations). A spent ``block`` budget raises
    LLMBudgetExceededError; a spent ``downgrade`` budget moves the request to
    its downgrade model (the record keeps the requested one)."""
    # Journaled once held, for the background writer's calls (calls.spool).
    journal = call_started_hook(record) if ctx.defer_record else None
    ctx.reservation = await areserve_for_call(
        record=record,
        messages=request.to_messages(),
        max_tokens=request.max_tokens or request.extra.get("max_completion_tokens"),
        kinds=kinds,
        prompt_tokens=request.metadata.get("input_tokens"),
        on_reserved=journal,
    )
    target = ctx.reservation.downgrade_to
    if not target or target == record.requested_model:
        return request
    record.downgraded = True
    record.metadata["downgraded_from"] = record.requested_model
    return request.with_model(target)


async def _shielded(coro: Any) -> Any:
    """Finish the write even if the caller's task is being cancelled."""
    task = asyncio.ensure_future(coro)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


async def _write(record: CallRecord, ctx: CallContext) -> None:
    """Write the record once, now or through the server's background writer;
    the call writer settles its budget reservation with the row (calls.services)."""
    telemetry.call_export(record, ctx.attempts)
    # Taken off the context first: a reservation is settled exactly once.
    reservation, ctx.reservation = ctx.reservation, None
    if reservation is not None and reservation.counter_ids:
        record.reservation = reservation
    if ctx.defer_record:
        record_writer().submit(record)
        return
    await _shielded(acall_record(record))
