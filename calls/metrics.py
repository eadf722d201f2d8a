"""Prometheus metrics, fed from the one place every call is recorded.

Per-process registry; with several server processes set
``PROMETHEUS_MULTIPROC_DIR`` and prometheus_client aggregates them.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)

REQUESTS = Counter(
    "llm_gateway_requests_total",
    "Calls recorded by the gateway.",
    ["model", "agent", "provider", "status"],
)
ERRORS = Counter(
    "llm_gateway_errors_total", "Failed calls by error type.", ["model", "agent", "error_type"]
)
TOKENS = Counter("llm_gateway_tokens_total", "Tokens used.", ["model", "agent", "kind"])
COST = Counter(
    "llm_gateway_cost_usd_total",
    "Spend in USD (exact figures are in the database).",
    ["model", "agent"],
)
LATENCY = Histogram(
    "llm_gateway_request_latency_seconds",
    "End-to-end call latency.",
    ["model"],
    buckets=LATENCY_BUCKETS,
)

# OpenTelemetry export (llm_gateway.otel_export): spans the collector got, and
# spans lost to a full queue or a failed export (a dead collector) — never a call.
OTEL_SPANS = Counter(
    "llm_gateway_otel_spans_total",
    "Spans handed to the OpenTelemetry exporter, by outcome.",
    ["outcome"],  # exported, export_failed, queue_full
)


def metrics_observe(record) -> None:
    model, agent = record.model or "unknown", record.agent_name or "unknown"
    times = getattr(record, "occurrences", 1)  # an aggregated refusal row counts them all
    REQUESTS.labels(model, agent, record.provider or "none", record.status).inc(times)
    if record.error_type:
        ERRORS.labels(model, agent, record.error_type).inc(times)
    TOKENS.labels(model, agent, "prompt").inc(record.prompt_tokens)
    TOKENS.labels(model, agent, "completion").inc(record.completion_tokens)
    COST.labels(model, agent).inc(float(record.cost))
    LATENCY.labels(model).observe(record.latency_ms / 1000)


def metrics_exposition() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
