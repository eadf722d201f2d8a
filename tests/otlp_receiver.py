"""A real OTLP/HTTP receiver for tests: a small HTTP server on 127.0.0.1 that
decodes the protobuf export requests (``opentelemetry-proto``) it is sent.

The gateway's exporter talks to it exactly as it would to a collector; tests
read back the spans and metric points it received.

    with OtlpReceiver() as receiver:
        ... OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url ...
        span = receiver.wait_for_span(lambda s: s.name == "chat gpt-4o-mini")
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


@dataclass
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any]
    status_code: int
    status_message: str
    start_ns: int
    end_ns: int
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""


@dataclass
class ReceivedPoint:
    metric: str
    unit: str
    attributes: dict[str, Any]
    count: int = 0  # histograms
    total: float = 0.0  # histogram sum, or a counter's value


def any_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


def key_values(pairs: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in pairs}


class OtlpReceiver:
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.points: list[ReceivedPoint] = []
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path, headers)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                encoding = (self.headers.get("content-encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                reply = receiver.take(self.path, dict(self.headers.items()), body)
                self.send_response(200 if reply is not None else 404)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(reply or b"")))
                self.end_headers()
                self.wfile.write(reply or b"")

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def take(self, path: str, headers: dict[str, str], body: bytes) -> bytes | None:
        with self._lock:
            self.requests.append((path, {k.lower(): v for k, v in headers.items()}))
        if path == "/v1/traces":
            self._take_traces(body)
            return trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        if path == "/v1/metrics":
            self._take_metrics(body)
            return metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
        return None

    def _take_traces(self, body: bytes) -> None:
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        received = []
        for resource_spans in request.resource_spans:
            resource = key_values(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            attributes=key_values(span.attributes),
                            status_code=span.status.code,
                            status_message=span.status.message,
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                            resource=resource,
                            scope=scope_spans.scope.name,
                        )
                    )
        with self._lock:
            self.spans.extend(received)

    def _take_metrics(self, body: bytes) -> None:
        request = metrics_service_pb2.ExportMetricsServiceRequest.FromString(body)
        received = []
        for resource_metrics in request.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    received.extend(_points(metric))
        with self._lock:
            self.points.extend(received)

    def wait_for_span(
        self, predicate: Callable[[ReceivedSpan], bool], timeout: float = 10.0
    ) -> ReceivedSpan:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [s for s in self.spans if predicate(s)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                names = [s.name for s in self.spans]
                raise AssertionError(f"no matching span received (got {names})")
            time.sleep(0.02)

    def spans_in(self, trace_id: str) -> list[ReceivedSpan]:
        with self._lock:
            return [s for s in self.spans if s.trace_id == trace_id]


def _points(metric: Any) -> list[ReceivedPoint]:
    kind = metric.WhichOneof("data")
    if kind == "histogram":
        return [
            ReceivedPoint(metric.name, metric.unit, key_values(p.attributes), p.count, p.sum)
            for p in metric.histogram.data_points
        ]
    if kind == "sum":
        return [
            ReceivedPoint(
                metric.name, metric.unit, key_values(p.attributes), total=p.as_double or p.as_int
            )
            for p in metric.sum.data_points
        ]
    return []


class _Sink(BaseHTTPRequestHandler):
    """Accept and discard: a collector that costs (almost) nothing, for benchmarks."""

    protocol_version = "HTTP/1.1"  # keep-alive, as a real collector
    received = {"requests": 0, "bytes": 0}

    def do_POST(self) -> None:
        size = int(self.headers.get("content-length", 0))
        self.rfile.read(size)
        self.received["requests"] += 1
        self.received["bytes"] += size
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        body = json_bytes(self.received)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


def main() -> None:
    """``python tests/otlp_receiver.py --sink``: a discarding OTLP/HTTP endpoint
    (GET / tells what it received), printing ``ready <url>`` once listening."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    print(f"ready http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
