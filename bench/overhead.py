"""Gateway overhead against a direct call to the same fake upstream.

Method (the team's performance notes, reproduced here): the fake upstream and
this load generator on CPU 0, the gateway as one uvicorn process pinned to CPU 1
(``taskset``), the same requests sent directly and through the gateway.
"added" = gateway − direct at the same percentile. Everything the product does
per call stays on: key auth, rate limits, budget checks, pricing, the record.
With Redis the tasks go through it as the broker to a Celery worker on CPU 0.

    python bench/overhead.py                 # the full set (< 10 minutes)
    python bench/overhead.py --quick         # c=1 and c=50, upstream 0 ms
    DATABASE_URL=postgres://… REDIS_URL=redis://… python bench/overhead.py
    python bench/overhead.py --quick --litellm   # the LiteLLM proxy side by side
    python bench/overhead.py --quick --portkey   # the Portkey gateway side by side
    python bench/overhead.py --quick --operation chat,embeddings,responses  # compared in one run
    python bench/overhead.py --quick --otel      # OpenTelemetry export on vs off

Prints one JSON line per case (each rival's right after ours, with
``ours_over``: ours / theirs), then a ``summary`` line per upstream latency.
With ``--otel`` a second gateway, exporting spans and metrics to a local
discarding OTLP sink, runs every cell too: its ``gateway-otel`` line carries
``otel_added_p50_over_off`` and ``otel_rps_over_off`` (export on / off) and the
spans it exported, failed or dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    MODEL,
    UPSTREAM_KEY,
    Stack,
    free_port,
    gateway_stack,
    peak_rss_mib,
    pinned,
    start_gateway,
    start_process,
    stop,
    upstream_stats,
)
from bench.loadgen import Result, percentile, run_load  # noqa: E402
from bench.rivals import Target, ours_over, rivals_running, summary_line  # noqa: E402

PROMPT = (
    "Summarise the main trade-offs between managed Kubernetes and serverless "
    "containers for a small platform team please"
)  # ~20 words


def summarise(name: str, result: Result, direct: Result | None, extra: dict) -> dict:
    ok = [s for s in result.samples if s.ok]
    lat = [s.latency * 1000 for s in ok]
    ttft = [s.ttft * 1000 for s in ok if s.ttft is not None]
    line = {
        "case": name,
        **extra,
        "requests": len(result.samples),
        "failures": len(result.samples) - len(ok),
        "rps": round(len(ok) / result.wall, 1) if result.wall else None,
    }
    if line["failures"]:  # 0: the connection failed before a status line
        failed = [str(s.status) for s in result.samples if not s.ok]
        line["failure_statuses"] = {status: failed.count(status) for status in set(failed)}
    for q in (0.5, 0.95, 0.99):
        line[f"p{int(q * 100)}_ms"] = _round(percentile(lat, q))
    if ttft:
        line["ttft_p50_ms"] = _round(percentile(ttft, 0.5))
    if direct is not None and lat:  # (a run whose calls all failed has no latency)
        d_ok = [s.latency * 1000 for s in direct.samples if s.ok]
        d_ttft = [s.ttft * 1000 for s in direct.samples if s.ok and s.ttft is not None]
        line["added_p50_ms"] = _round(percentile(lat, 0.5) - percentile(d_ok, 0.5))
        line["added_p95_ms"] = _round(percentile(lat, 0.95) - percentile(d_ok, 0.95))
        if ttft and d_ttft:
            line["ttft_added_p50_ms"] = _round(percentile(ttft, 0.5) - percentile(d_ttft, 0.5))
        d_rps = len(d_ok) / direct.wall if direct.wall else 0
        line["throughput_ratio"] = round(line["rps"] / d_rps, 3) if d_rps else None
    return line


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


# Each operation's path; embeddings are never streamed. Rivals run chat only.
PATHS = {
    "chat": "/v1/chat/completions",
    "embeddings": "/v1/embeddings",
    "responses": "/v1/responses",
}


def body_for(operation: str, stream: bool) -> dict:
    """~20 prompt words and 16 output tokens, as the method says, per operation."""
    if operation == "embeddings":  # base64: what the OpenAI SDK asks for by default
        return {"model": "text-embedding-3-small", "input": PROMPT, "encoding_format": "base64"}
    if operation == "responses":
        return {"model": MODEL, "input": PROMPT, "max_output_tokens": 16, "stream": stream}
    return {
        "model": MODEL,
        "max_tokens": 16,
        "stream": stream,
        "messages": [{"role": "user", "content": PROMPT}],
    }


async def measure(
    url: str,
    headers: dict[str, str],
    *,
    total: int,
    concurrency: int,
    stream: bool,
    operation: str = "chat",
) -> Result:
    # Every bench request is identical: embeddings (deterministic) would be answered
    # from the response cache after the first, which measures the cache, not the path.
    headers = {**headers, "x-gateway-cache": "no-store"}
    return await run_load(
        url,
        body=body_for(operation, stream),
        headers=headers,
        total=total,
        concurrency=concurrency,
        stream=stream,
    )


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def requests_for(latency_ms: int, concurrency: int, base: int) -> int:
    if latency_ms == 0:
        return base
    return min(2000, max(100, concurrency * 10))


def run_latency(args: argparse.Namespace, latency_ms: int, base_env: dict) -> None:
    with (
        gateway_stack(
            latency_ms=latency_ms,
            db_url=args.db_url,
            base_env=base_env,
            workers=args.workers,
            budget=args.budget,
        ) as stack,
        rivals_running(args.rivals, stack.upstream_url, MODEL) as rivals,
        otel_running(args, stack) as otel,
    ):
        gateway_base = stack.gateway_url.removesuffix(PATHS["chat"])
        lines = []
        for operation in args.operations:
            direct = Target(
                "direct", None, stack.upstream_url + PATHS[operation], bearer(UPSTREAM_KEY)
            )
            ours = Target(
                "gateway", stack.gateway, gateway_base + PATHS[operation], bearer(stack.key)
            )
            exporting = [at_path(t, PATHS[operation]) for t in otel]
            others = [*exporting, *(rivals if operation == "chat" else [])]
            streams = [s for s in args.streams if not (s and operation == "embeddings")]
            load = {"operation": operation}
            for stream in streams:  # warm-up (V8's JIT and the Python caches alike)
                for target in (ours, *others):
                    asyncio.run(
                        measure(
                            target.url,
                            target.headers,
                            total=300,
                            concurrency=10,
                            stream=stream,
                            **load,
                        )
                    )
            for stream in streams:
                for concurrency in args.concurrency:
                    cell = {"stream": stream, "concurrency": concurrency, **load}
                    total = requests_for(latency_ms, concurrency, args.requests)
                    runs = measure_cell(
                        [direct, ours, *others], stack.upstream_url, total, args.rounds, cell
                    )
                    lines += cell_lines(args, runs, {**cell, "upstream_latency_ms": latency_ms})
        chat = [line for line in lines if line["operation"] == "chat"]  # rivals run chat only
        print(json.dumps(summary_line(chat, latency_ms)), flush=True)


@dataclass
class Run:
    """What one target did in a cell, over all its rounds."""

    target: Target
    result: Result = field(default_factory=Result)
    cpu: float = 0.0
    peak_in_flight: int = 0


def measure_cell(
    targets: list[Target], upstream_url: str, total: int, rounds: int, cell: dict
) -> list[Run]:
    """The cell's calls for each target in turn (direct, ours, each rival), in
    ``rounds`` alternating slices so that a burst of other work on the machine
    falls on every target alike."""
    runs = [Run(target) for target in targets]
    share = -(-total // rounds)
    for start in range(0, total, share):
        for run in runs:
            upstream_stats(upstream_url, reset=True)
            cpu_before = run.target.cpu_seconds()
            part = asyncio.run(
                measure(run.target.url, run.target.headers, total=min(share, total - start), **cell)
            )
            run.cpu += run.target.cpu_seconds() - cpu_before
            run.peak_in_flight = max(
                run.peak_in_flight, upstream_stats(upstream_url)["peak_in_flight"]
            )
            run.result.samples += part.samples
            run.result.wall += part.wall
    return runs


def cell_lines(args: argparse.Namespace, runs: list[Run], extra: dict) -> list[dict]:
    """One JSON line per gateway: ours first, then each rival with ``ours_over``."""
    direct = runs[0].result
    lines = []
    for run in runs[1:]:
        line = summarise(run.target.name, run.result, direct, extra)
        calls = max(len(run.result.samples), 1)
        # Ours includes the record writer finishing the last batch (10 ms).
        line["cpu_ms_per_call"] = _round(run.cpu * 1000 / calls)
        line["peak_rss_mib"] = peak_rss_mib(run.target.proc.pid)
        # All `concurrency` calls open upstream at once: nothing in the gateway
        # (a pool, a thread per call, a semaphore) capped them.
        line["upstream_peak_in_flight"] = run.peak_in_flight
        if run.target.name == OTEL_CASE:
            otel_compared(line, lines[0], run.target.proc)
        elif lines:
            line["ours_over"] = ours_over(lines[0], line)
        else:
            line.update(workers=args.workers, budget=args.budget, db=args.db_url.split(":")[0])
            d_ok = [s.latency * 1000 for s in direct.samples if s.ok]
            line["direct_p50_ms"] = _round(percentile(d_ok, 0.5))
            line["direct_rps"] = round(len(direct.samples) / direct.wall, 1)
        print(json.dumps(line), flush=True)
        lines.append(line)
    return lines


OTEL_CASE = "gateway-otel"


@contextlib.contextmanager
def otel_running(args: argparse.Namespace, stack: Stack) -> Iterator[list[Target]]:
    """With ``--otel``: a discarding OTLP/HTTP sink (CPU 0) and a second gateway
    exporting to it, started like the first and measured in the same cells."""
    if not args.otel:
        yield []
        return
    cmd = [*pinned(0), sys.executable, "tests/otlp_receiver.py"]
    sink, ready = start_process(cmd, stack.env, "ready")
    gateway = None
    try:
        env = {**stack.env, "OTEL_EXPORTER_OTLP_ENDPOINT": ready.split()[-1]}
        port = free_port()
        gateway = start_gateway(port, args.workers, env)
        base = f"http://127.0.0.1:{port}"
        yield [Target(OTEL_CASE, gateway, base + PATHS["chat"], bearer(stack.key))]
    finally:
        for proc in (gateway, sink):
            if proc is not None:
                stop(proc)


def at_path(target: Target, path: str) -> Target:
    """The exporting gateway's target for another operation's path."""
    base = target.url.removesuffix(PATHS["chat"])
    return Target(target.name, target.proc, base + path, target.headers)


def otel_compared(on: dict, off: dict, gateway: subprocess.Popen) -> None:
    """The export-on line, with its cost against export off in the same cell."""
    if on.get("added_p50_ms") is not None and off.get("added_p50_ms"):
        on["otel_added_p50_over_off"] = round(on["added_p50_ms"] / off["added_p50_ms"], 3)
    if on.get("rps") and off.get("rps"):
        on["otel_rps_over_off"] = round(on["rps"] / off["rps"], 3)
    on["otel_spans"] = otel_span_counts(gateway)


def otel_span_counts(gateway: subprocess.Popen) -> dict[str, float]:
    """The gateway's own count of spans exported, failed or dropped (/metrics)."""
    args = gateway.args
    port = args[args.index("--port") + 1]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    prefix = "llm_gateway_otel_spans_total{outcome="
    counts = {}
    for line in text.splitlines():
        if line.startswith(prefix):
            label, value = line[len(prefix) :].split("} ")
            counts[label.strip('"')] = float(value)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", default="1,10,50,200")
    parser.add_argument("--latency", default="0,200")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="split each cell into N alternating slices per target (fairer on a busy machine)",
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--stream", default="both", choices=("both", "yes", "no"), help="streamed cases, or not"
    )
    parser.add_argument(
        "--budget",
        default="alert",
        choices=("alert", "block", "none"),
        help="the global budget covering the calls (block: every call reserves and settles)",
    )
    parser.add_argument(
        "--litellm",
        action="store_true",
        help="also run each cell through the LiteLLM proxy (installed into .bench/ on first use)",
    )
    parser.add_argument(
        "--portkey",
        action="store_true",
        help="also run each cell through the Portkey gateway (installed into .bench/ with npm)",
    )
    parser.add_argument(
        "--otel",
        action="store_true",
        help="also run each cell through a gateway exporting OpenTelemetry to a local sink "
        "(use --rounds 4 or so: export off and on are then measured in turn)",
    )
    parser.add_argument(
        "--operation",
        default="chat",
        help="comma list of chat, embeddings, responses: each benched in the same run",
    )
    args = parser.parse_args()
    args.operations = [op for op in args.operation.split(",") if op]
    if unknown := set(args.operations) - set(PATHS):
        parser.error(f"unknown operation(s): {', '.join(sorted(unknown))}")
    args.streams = {"both": (False, True), "yes": (True,), "no": (False,)}[args.stream]
    args.rivals = [name for name in ("litellm", "portkey") if getattr(args, name)]
    if args.quick:
        args.concurrency, args.latency = "1,50", "0"
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    base_env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    with tempfile.TemporaryDirectory() as tmp:
        args.db_url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.sqlite3"
        for latency in (int(v) for v in args.latency.split(",")):
            run_latency(args, latency, base_env)


if __name__ == "__main__":
    main()
