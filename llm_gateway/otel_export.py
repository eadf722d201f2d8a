"""OpenTelemetry export of calls through the official SDK (loaded only when on).

Configured entirely by the standard variables: ``OTEL_EXPORTER_OTLP_*``
(endpoint, headers, timeout, compression, protocol: HTTP/protobuf by default,
gRPC with ``grpc``), ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER(_ARG)``, ``OTEL_BSP_*`` and ``OTEL_METRIC_EXPORT_INTERVAL``.

Spans follow the GenAI semantic conventions and are built from the finished
``CallRecord`` (``llm_gateway.telemetry``): a CLIENT span per call with the
ids chosen when the call started, plus one child per provider try when there
was more than one (retries, failover). A finished call needs no live span
object: each is made as the SDK's ``ReadableSpan`` (what a live span becomes
when it ends), sampled by the provider's own sampler, and handed to the span
processor. That skips the live span's per-attribute checks and locks, a third
of the export's CPU per call; the attributes are ours and already clean.

Nothing of this runs on the event loop: ``export`` only appends the finished
call to a bounded deque. A builder thread turns what is queued into spans and
metric measurements a batch at a time (every ``BUILD_INTERVAL``, or sooner
when a batch is waiting) and hands the spans to the SDK's batch processor,
whose own thread encodes and sends them. Both queues drop the oldest rather
than wait, so a dead collector costs background time, never a caller's.
Drops are counted in ``/metrics`` (and not logged one by one: that cost more
than the span).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections import defaultdict, deque
from decimal import Decimal
from typing import Any

from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    get_current_span,
    set_span_in_context,
)

from calls.metrics import OTEL_SPANS
from llm_gateway.otel_attributes import (
    attempt_attributes,
    call_attributes,
    metric_attributes,
    operation_name,
)

logger = logging.getLogger(__name__)
SCOPE = "llm_gateway"
DEFAULT_SERVICE_NAME = "llm-gateway"
TOKEN_BUCKETS = [4**i for i in range(14)]  # 1 … 67M, the conventions' advice
DURATION_BUCKETS = [0.01 * 2**i for i in range(14)]  # 10 ms … 82 s
_NO_EXEMPLARS = AlwaysOffExemplarFilter()
BUILD_INTERVAL = 0.1  # seconds between the builder's batches
BUILD_BATCH = 256  # a backlog this long wakes the builder at once


class Exporter:
    def __init__(self, *, traces: bool, metrics: bool) -> None:
        resource = _resource()
        self.traces = traces
        self.capture_content = _env_true("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
        self._tracer_provider: TracerProvider | None = None
        self._meter_provider: MeterProvider | None = None
        if traces:
            self._tracer_provider = TracerProvider(resource=resource)
            self._processor = _counted_batch_processor()
            self._tracer_provider.add_span_processor(self._processor)
            self._sampler = self._tracer_provider.sampler
            self._resource = self._tracer_provider.resource
            self._scope = InstrumentationScope(SCOPE)
            self._ids = RandomIdGenerator()
            logging.getLogger("opentelemetry.sdk._shared_internal").setLevel(logging.ERROR)
        if metrics:
            reader = PeriodicExportingMetricReader(_metric_exporter())
            # Exemplars link a measurement to the span current when it is taken;
            # ours are taken after the call, outside any span, so none could be
            # linked: off unless asked for (OTEL_METRICS_EXEMPLAR_FILTER).
            exemplars = None if "OTEL_METRICS_EXEMPLAR_FILTER" in os.environ else _NO_EXEMPLARS
            self._meter_provider = MeterProvider(
                resource=resource, metric_readers=[reader], exemplar_filter=exemplars
            )
            self._instruments = _Instruments(self._meter_provider)
        self._pending: deque[tuple[Any, list | None]] = deque(
            maxlen=_env_int("OTEL_BSP_MAX_QUEUE_SIZE", 2048)
        )
        self._stopping = False
        self._builder_start()
        if hasattr(os, "register_at_fork"):  # a forked worker needs a builder of its own
            restart = weakref.WeakMethod(self._builder_start)
            os.register_at_fork(after_in_child=lambda: (method := restart()) and method())
        # Registered after the providers' own exit hooks, so it runs before them:
        # what is still queued becomes spans before the processor's last flush.
        atexit.register(self._build_pending)

    def _builder_start(self) -> None:
        """Start the builder thread: at start-up, and in a forked child, where
        no thread of the parent runs and the parent's lock may have been held."""
        self._building = threading.Lock()
        self._wake = threading.Event()
        self._builder = threading.Thread(target=self._build_loop, name="otel-build", daemon=True)
        self._builder.start()

    def export(self, record: Any, attempts: list | None) -> None:
        """Queue a finished call (the caller's thread does nothing else)."""
        pending = self._pending
        if len(pending) == pending.maxlen:
            OTEL_SPANS.labels("queue_full").inc()  # the oldest call is dropped
        pending.append((record, attempts))
        if len(pending) == BUILD_BATCH:
            self._wake.set()

    def _build_loop(self) -> None:
        while not self._stopping:
            self._wake.wait(BUILD_INTERVAL)
            self._wake.clear()
            self._build_pending()

    def _build_pending(self) -> None:
        with self._building:  # the builder, a flush and the exit hook take turns
            while True:
                try:
                    record, attempts = self._pending.popleft()
                except IndexError:
                    return
                try:
                    self._build(record, attempts)
                except Exception:  # one bad record must not stop the others
                    logger.exception("building the telemetry of a call failed")

    def _build(self, record: Any, attempts: list | None) -> None:
        if self._tracer_provider is not None:
            self._span(record, attempts or [])
        if self._meter_provider is not None:
            self._instruments.record(record)

    def _span(self, record: Any, attempts: list) -> None:
        start = int(record.created_at.timestamp() * 1e9)
        end = max(start, start + int(record.latency_ms * 1e6))
        parent = _parent(record)
        if record.trace_id:
            trace_id, span_id = int(record.trace_id, 16), int(record.span_id, 16)
        else:  # export was turned on while the call ran
            trace_id, span_id = self._ids.generate_trace_id(), self._ids.generate_span_id()
        name = call_span_name(record)
        attributes = call_attributes(record, attempts, capture_content=self.capture_content)
        sampled = self._sampler.should_sample(
            _context_of(parent), trace_id, name, SpanKind.CLIENT, attributes
        )
        if not sampled.decision.is_sampled():
            return
        context = SpanContext(
            trace_id, span_id, False, TraceFlags(TraceFlags.SAMPLED), sampled.trace_state
        )
        failed = record.status != "success"
        self._emit(
            name, context, parent, SpanKind.CLIENT, dict(sampled.attributes), start, end,
            Status(StatusCode.ERROR, record.error_type or record.status) if failed else None,
        )  # fmt: skip
        if len(attempts) > 1:
            self._attempt_spans(record, attempts, context)

    def _attempt_spans(self, record: Any, attempts: list, parent: SpanContext) -> None:
        for number, attempt in enumerate(attempts, 1):
            context = SpanContext(
                parent.trace_id, self._ids.generate_span_id(), False, parent.trace_flags
            )
            status = Status(StatusCode.ERROR, attempt.error_type) if attempt.error_type else None
            self._emit(
                f"attempt {number} {attempt.provider}", context, parent, SpanKind.INTERNAL,
                attempt_attributes(record, attempt, number), attempt.start_ns, attempt.end_ns,
                status,
            )  # fmt: skip

    def _emit(
        self,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, Any],
        start: int,
        end: int,
        status: Status | None,
    ) -> None:
        span = ReadableSpan(
            name,
            context,
            parent,
            self._resource,
            attributes,
            kind=kind,
            status=status or _UNSET,
            start_time=start,
            end_time=end,
            instrumentation_scope=self._scope,
        )
        self._processor.on_end(span)

    def current_span_ids(self) -> tuple[str, str] | None:
        """(trace id, span id) of the caller's current span, in-process (Python API)."""
        context = get_current_span().get_span_context()
        if not context.is_valid:
            return None
        return f"{context.trace_id:032x}", f"{context.span_id:016x}"

    def flush(self) -> None:
        self._build_pending()
        for provider in (self._tracer_provider, self._meter_provider):
            if provider is not None:
                provider.force_flush()

    def shutdown(self) -> None:
        self._stopping = True
        self._wake.set()
        self._builder.join(timeout=5)
        self._build_pending()
        atexit.unregister(self._build_pending)
        for provider in (self._tracer_provider, self._meter_provider):
            if provider is not None:
                provider.shutdown()


def call_span_name(record: Any) -> str:
    """``{gen_ai.operation.name} {gen_ai.request.model}``, as the conventions name it."""
    return f"{operation_name(record)} {record.requested_model or record.model}".strip()


_UNSET = Status(StatusCode.UNSET)


def _parent(record: Any) -> SpanContext | None:
    """The caller's span (a remote parent), when the call came with one."""
    if not (record.trace_id and record.parent_id):
        return None
    flags = TraceFlags(TraceFlags.SAMPLED if record.trace_sampled else TraceFlags.DEFAULT)
    return SpanContext(int(record.trace_id, 16), int(record.parent_id, 16), True, flags)


def _context_of(parent: SpanContext | None) -> Context:
    """The sampler's view of the parent: an explicit empty context for a root,
    never whatever span happens to be current in the server's own task."""
    if parent is None:
        return Context()
    return set_span_in_context(NonRecordingSpan(parent), Context())


# --- the pipeline ------------------------------------------------------------------------


class _Counted:
    """What the batch queue holds, so its silent drops can be counted: the SDK's
    queue is a bounded deque that discards the oldest span when full."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.queued = 0
        self.taken = 0
        self.lock = threading.Lock()


class _CountingExporter(SpanExporter):
    def __init__(self, inner: SpanExporter, counted: _Counted) -> None:
        self._inner, self._counted = inner, counted

    def export(self, spans: Any) -> SpanExportResult:
        with self._counted.lock:
            self._counted.taken += len(spans)
        try:
            result = self._inner.export(spans)
        except Exception:  # an exporter bug must not kill the batch thread
            logger.exception("the span exporter failed")
            result = SpanExportResult.FAILURE
        outcome = "exported" if result == SpanExportResult.SUCCESS else "export_failed"
        OTEL_SPANS.labels(outcome).inc(len(spans))
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class _CountingProcessor(SpanProcessor):
    def __init__(self, inner: BatchSpanProcessor, counted: _Counted) -> None:
        self._inner, self._counted = inner, counted

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        self._inner.on_start(span, parent_context)

    def on_end(self, span: Any) -> None:
        if span.context.trace_flags.sampled:
            counted = self._counted
            with counted.lock:
                if counted.queued - counted.taken >= counted.capacity:
                    counted.taken += 1  # the oldest queued span is discarded
                    OTEL_SPANS.labels("queue_full").inc()
                counted.queued += 1
        self._inner.on_end(span)

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def _counted_batch_processor() -> SpanProcessor:
    capacity = _env_int("OTEL_BSP_MAX_QUEUE_SIZE", 2048)
    counted = _Counted(capacity)
    batch = BatchSpanProcessor(
        _CountingExporter(_span_exporter(), counted), max_queue_size=capacity
    )
    return _CountingProcessor(batch, counted)


def _protocol(signal: str) -> str:
    raw = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    protocol = raw.strip().lower()
    if protocol not in ("grpc", "http/protobuf"):
        logger.warning("OTLP protocol %r is not supported here; using http/protobuf", raw)
        return "http/protobuf"
    return protocol


def _span_exporter() -> SpanExporter:
    if _protocol("TRACES") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    return OTLPSpanExporter()


def _metric_exporter() -> Any:
    if _protocol("METRICS") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    return OTLPMetricExporter()


def _resource() -> Resource:
    """The environment's resource; ``llm-gateway`` unless OTEL_SERVICE_NAME (or
    OTEL_RESOURCE_ATTRIBUTES) names the service."""
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return resource


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() == "true"


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, "")))
    except ValueError:
        return default


# --- metrics -------------------------------------------------------------------------------


class _Instruments:
    """The GenAI client metrics, plus the calls' cost."""

    def __init__(self, provider: MeterProvider) -> None:
        meter = provider.get_meter(SCOPE)
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        # The cost is summed here, exactly (Decimal), and observed at each export:
        # one dictionary update per call instead of an SDK measurement, which
        # checks and hashes its attributes every time. OTel counters are floats;
        # the exact sums stay in the database.
        self._cost: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        self._cost_lock = threading.Lock()
        meter.create_observable_counter(
            "gateway.cost",
            callbacks=[self._observe_cost],
            unit="USD",
            description="Cost of the calls, in US dollars.",
        )

    def record(self, record: Any) -> None:
        attributes = metric_attributes(record)
        self.duration.record(record.latency_ms / 1000, attributes)
        attributes.pop("error.type", None)
        if record.prompt_tokens:
            self.tokens.record(record.prompt_tokens, {**attributes, "gen_ai.token.type": "input"})
        if record.completion_tokens:
            self.tokens.record(
                record.completion_tokens, {**attributes, "gen_ai.token.type": "output"}
            )
        if record.cost:
            with self._cost_lock:
                self._cost[(record.requested_model, record.agent_name)] += record.cost

    def _observe_cost(self, options: CallbackOptions) -> list[Observation]:
        with self._cost_lock:
            totals = list(self._cost.items())
        return [
            Observation(float(total), {"gen_ai.request.model": model, "gateway.agent": agent})
            for (model, agent), total in totals
        ]
