"""OpenTelemetry for every call: the light half, always imported.

With no OTLP endpoint configured (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``; ``..._METRICS_ENDPOINT`` for metrics)
nothing here imports the OpenTelemetry SDK and the hot path pays one ``is
None`` test per call. When one is set, ``telemetry_configure`` loads
``llm_gateway.otel_export`` (the SDK, the exporters) once at start-up.

The span of a call is built after the fact from its ``CallRecord``, handed
over in the manager's record path (``call_export``), so every endpoint, stream
or not, success, error, budget refusal or cache hit, is exported the same way
and nothing is held open across a request; the exporter builds it on its own
thread, off the answer path. Only the ids are chosen up front: the
call's span id goes to the provider in ``traceparent`` before the span exists.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from llm_gateway.attribution import traceparent_format

logger = logging.getLogger(__name__)
T = TypeVar("T")

# The exporter (llm_gateway.otel_export.Exporter) while export is on; None when off.
_exporter: Any = None


@dataclass(frozen=True, slots=True)
class AttemptSpan:
    """One try at a provider (a retry or a failover is another), for a child span."""

    provider: str
    kind: str
    model: str
    server_address: str
    start_ns: int
    end_ns: int
    error_type: str = ""


def telemetry_wanted(environ: Mapping[str, str] | None = None) -> tuple[bool, bool]:
    """(traces, metrics): whether the standard variables ask for each."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False, False
    common = bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip())
    traces = common or bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip())
    metrics = common or bool(env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "").strip())
    traces = traces and env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() != "none"
    metrics = metrics and env.get("OTEL_METRICS_EXPORTER", "otlp").strip().lower() != "none"
    return traces, metrics


def telemetry_configure(environ: Mapping[str, str] | None = None) -> bool:
    """(Re)build the exporter from the environment; True when anything is exported.
    Called once at start-up (the app's ``ready``) and by tests."""
    global _exporter
    telemetry_shutdown()
    traces, metrics = telemetry_wanted(environ)
    if not (traces or metrics):
        return False
    # Imported here, not at the top: the SDK and the exporters cost start-up
    # time and memory that a gateway without a collector should not pay.
    from llm_gateway import otel_export

    _exporter = otel_export.Exporter(traces=traces, metrics=metrics)
    return True


def telemetry_shutdown() -> None:
    """Flush what is queued and stop the exporter (tests, process exit)."""
    global _exporter
    exporter, _exporter = _exporter, None
    if exporter is not None:
        exporter.shutdown()


def telemetry_flush() -> None:
    if _exporter is not None:
        _exporter.flush()


def telemetry_on() -> bool:
    return _exporter is not None


def call_export(record: Any, attempts: list[AttemptSpan] | None) -> None:
    """Export a finished call; never raises and never waits: the exporter only
    queues it, and builds its span and metrics on its own thread."""
    exporter = _exporter
    if exporter is None:
        return
    try:
        exporter.export(record, attempts)
    except Exception:  # telemetry must never fail a call
        logger.exception("exporting the span of call %s failed", getattr(record, "id", "?"))


def attempts_list() -> list[AttemptSpan] | None:
    """A list to time provider attempts in, only while spans are exported."""
    return [] if _exporter is not None and _exporter.traces else None


def attempt_timed(
    attempts: list[AttemptSpan] | None,
    provider: Any,
    model: str,
    fn: Callable[[], Awaitable[T]],
) -> Callable[[], Awaitable[T]]:
    """``fn``, noting each try's times and outcome when attempts are being kept."""
    if attempts is None:
        return fn

    async def timed() -> T:
        start = time.time_ns()
        error = ""
        try:
            return await fn()
        except BaseException as exc:
            error = type(exc).__name__
            raise
        finally:
            attempts.append(
                AttemptSpan(
                    provider=provider.name,
                    kind=provider.kind,
                    model=model,
                    server_address=server_address(provider),
                    start_ns=start,
                    end_ns=time.time_ns(),
                    error_type=error,
                )
            )

    return timed


def server_address(provider: Any) -> str:
    """The provider's host, for ``server.address`` (empty for the SDK default)."""
    base = getattr(provider, "base_url", None) or getattr(provider, "endpoint", None)
    return (urlsplit(str(base)).hostname or "") if base else ""


# --- ids -------------------------------------------------------------------------------


def new_trace_id() -> str:
    return f"{random.getrandbits(128):032x}"


def new_span_id() -> str:
    return f"{random.getrandbits(64) or 1:016x}"


def call_trace_ids(request: Any) -> tuple[str, str, str]:
    """(trace id, span id, parent id) of a call.

    The caller's trace when it sent one; with export on, the in-process
    caller's current span (the Python API), else a new trace. With neither,
    no ids: nothing would ever show them.
    """
    if request.trace_id:
        return request.trace_id, new_span_id(), request.parent_id or ""
    if _exporter is None or not _exporter.traces:
        return "", "", request.parent_id or ""
    current = _exporter.current_span_ids()
    if current is not None:
        return current[0], new_span_id(), current[1]
    return new_trace_id(), new_span_id(), request.parent_id or ""


def record_attribution(request: Any) -> dict[str, Any]:
    """The ``CallRecord`` fields for a request's attribution and its trace ids."""
    trace_id, span_id, parent_id = call_trace_ids(request)
    return {
        "session_id": request.session_id or "",
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_id": parent_id,
        "step": request.step or "",
        "end_user": request.end_user or "",
        "tags": request.tags,
        "trace_sampled": request.trace_sampled,
    }


def upstream_trace_headers(record: Any) -> dict[str, str]:
    """The gateway's own ``traceparent`` for the provider: the agent's trace, the
    call's span as the parent, so the provider's spans, if any, sit under it.
    The one place every path (each endpoint, stream or not) gets it from."""
    if not record.trace_id:
        return {}
    return {
        "traceparent": traceparent_format(record.trace_id, record.span_id, record.trace_sampled)
    }


def request_traced(request: Any, record: Any) -> Any:
    """The request with ``upstream_trace_headers`` for the provider (a copy)."""
    headers = upstream_trace_headers(record)
    if not headers:
        return request
    clone = request.with_model(request.model)
    clone.upstream_headers = {**request.upstream_headers, **headers}
    return clone
