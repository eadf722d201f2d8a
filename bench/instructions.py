"""Instructions the gateway executes per call: a before/after figure that noise does not move.

On a machine other jobs are using, wall time and even CPU time per call move by
tens of percent from one run to the next (preemption, caches), too much to see a
change of a few percent. This runs the stack of ``bench/overhead.py`` (fake
upstream and load on CPU 0, one ``manage.py serve`` process on CPU 1, the same
key limits and budget) with the gateway under valgrind's callgrind, warms it up
with instrumentation off, then counts the instructions of every thread of the
process over the cell's calls and prints them per call. Two runs of the same
code, each beside another tree, agreed within 0.1 %.

What it does not show: time spent waiting (the database, Redis, the network)
and the cost of a cache miss, which instructions do not count. The gateway runs
~100× slower under callgrind, so it sees fewer calls per second than in
production: a per-batch cost (the record writer's transaction, 10 ms window)
is spread over fewer calls and weighs more here than at full speed. The count
depends on that rate: compare two trees run side by side (both gateways then
share the pinned core and see the same rate).

    python bench/instructions.py                        # c=50, 1 000 calls
    python bench/instructions.py --requests 2000 --stream
    DATABASE_URL=postgres://… REDIS_URL=redis://… python bench/instructions.py

Prints one JSON line: ``instructions_per_call`` (all threads), the calls,
failures, and the callgrind output file (``callgrind_annotate FILE`` lists the
C functions; Python code shows as the interpreter's own).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import gateway_stack
from bench.overhead import bearer, measure

RESULTS = Path(__file__).resolve().parent / "results"


def callgrind(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def totals(out_dir: Path, pid: int) -> tuple[int, Path]:
    """The instruction count of the last dump (``summary:`` or ``totals:`` line)."""
    dumps = sorted(out_dir.glob(f"callgrind.out.{pid}.*"), key=lambda p: p.stat().st_mtime)
    if not dumps:
        raise RuntimeError("callgrind wrote no dump")
    text = dumps[-1].read_text(errors="replace")
    found = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no totals in {dumps[-1]}")
    return int(found.group(1)), dumps[-1]


def counted_cell(args: argparse.Namespace, db_url: str, out_dir: Path) -> dict:
    base_env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    wrapper = (
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out_dir}/callgrind.out.%p",
        "--quiet",
    )
    options = {"db_url": db_url, "base_env": base_env, "workers": 1, "budget": args.budget}
    with gateway_stack(latency_ms=0, wrapper=wrapper, **options) as stack:
        pid = stack.gateway.pid
        load = {"concurrency": args.concurrency, "stream": args.stream}
        headers = bearer(stack.key)
        asyncio.run(measure(stack.gateway_url, headers, total=args.warmup, **load))
        callgrind(pid, "--instr=on")
        # A first pass instrumented translates the code once; then count from zero.
        asyncio.run(measure(stack.gateway_url, headers, total=args.concurrency * 2, **load))
        callgrind(pid, "--zero")
        started = time.monotonic()
        result = asyncio.run(measure(stack.gateway_url, headers, total=args.requests, **load))
        wall = time.monotonic() - started
        callgrind(pid, "--dump")
        instructions, dump = totals(out_dir, pid)
    calls = len(result.samples)
    return {
        "case": "instructions",
        "stream": args.stream,
        "concurrency": args.concurrency,
        "budget": args.budget,
        "database": db_url.split(":", 1)[0],
        "calls": calls,
        "failures": sum(not s.ok for s in result.samples),
        "rps_under_callgrind": round(calls / wall, 1),
        "instructions_per_call": round(instructions / max(calls, 1)),
        "callgrind_out": str(dump),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=300, help="calls before counting")
    parser.add_argument("--stream", action="store_true", help="count streamed calls")
    parser.add_argument("--budget", default="alert", choices=("alert", "block", "none"))
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db_url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.sqlite3"
        print(json.dumps(counted_cell(args, db_url, RESULTS)), flush=True)


if __name__ == "__main__":
    main()
