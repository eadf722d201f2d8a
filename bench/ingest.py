"""Call records into PostgreSQL at scale, and the gateway's latency meanwhile.

An ingest process writes records through the server's own path (the
write-ahead spool, ``calls.recorder``'s batched writer, ``calls.services``'
COPY) as fast as it can, bodies on, into the partitioned call log; it stands
for the records of many busy gateway processes. Beside it a gateway (one
process pinned to CPU 1, as in bench/overhead.py) serves a probe at c=1, before
and during the ingest, so "added latency" (gateway minus direct) can be
compared: the record stream must not slow the calls being served.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python bench/ingest.py
    python bench/ingest.py --seconds 60 --probe 400

Prints one JSON line: records/s sustained (rows committed / wall time, drain
included), and the probe's added p50/p95 before and during. The machine is
shared (2 cores; PostgreSQL unpinned): read the ratios of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import gateway_stack, manage  # noqa: E402
from bench.loadgen import Result, percentile  # noqa: E402
from bench.overhead import bearer, measure  # noqa: E402

AGENT = "ingest-bench"
# A chat call's bodies as the gateway stores them: ~1.5 KB of JSON together.
REQUEST_BODY = {
    "model": "gpt-4o-mini",
    "max_tokens": 256,
    "messages": [
        {"role": "system", "content": "You are a careful assistant for a platform team. " * 6},
        {"role": "user", "content": "Summarise the trade-offs of managed Kubernetes. " * 8},
    ],
}
RESPONSE_BODY = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Managed control planes cost less. " * 12},
        }
    ],
    "usage": {"prompt_tokens": 180, "completion_tokens": 96, "total_tokens": 276},
}


# --- the ingest process ---------------------------------------------------------------


def ingest(seconds: float) -> dict:
    """Submit records to this process's batched writer for ``seconds``, then drain."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infra_dashboard.settings")
    django.setup()
    from django.utils import timezone

    from calls.recorder import MAX_BATCH, record_writer, records_flush
    from calls.services import CallRecord

    def record(n: int) -> CallRecord:
        return CallRecord(
            id=uuid.uuid4(),
            created_at=timezone.now(),
            agent_name=AGENT,
            source="api",
            provider="openai",
            provider_kind="openai",
            requested_model="gpt-4o-mini",
            model="gpt-4o-mini",
            http_status=200,
            prompt_tokens=180,
            completion_tokens=96,
            cost=Decimal("0.0000846"),
            latency_ms=120.0 + n % 50,
            finish_reason="stop",
            request_body=REQUEST_BODY,
            response_body=RESPONSE_BODY,
            session_id=f"s-{n // 20}",
        )

    async def run() -> dict:
        writer = record_writer()
        started, cpu = time.perf_counter(), time.process_time()
        deadline, submitted = started + seconds, 0
        while time.perf_counter() < deadline:
            for _ in range(50):
                writer.submit(record(submitted))
                submitted += 1
            await asyncio.sleep(0)
            # Backpressure as a real server has it: no more than a few batches queued.
            while writer.backlog() > 4 * MAX_BATCH:
                await asyncio.sleep(0.002)
        await records_flush()
        wall = time.perf_counter() - started
        return {"submitted": submitted, "wall_s": wall, "cpu_s": time.process_time() - cpu}

    return asyncio.run(run())


# --- the bench -------------------------------------------------------------------------


def added(through: Result, direct: Result) -> dict:
    def ms(result: Result, q: float) -> float:
        return percentile([s.latency * 1000 for s in result.samples if s.ok], q) or 0.0

    return {
        f"added_p{int(q * 100)}_ms": round(ms(through, q) - ms(direct, q), 2) for q in (0.5, 0.95)
    }


async def probe(stack, total: int) -> dict:
    """Direct and through the gateway, in alternating slices (fair on a busy machine)."""
    direct, through = Result(), Result()
    for _ in range(4):
        for target, url, headers in (
            (direct, stack.direct_url, {}),
            (through, stack.gateway_url, bearer(stack.key)),
        ):
            part = await measure(url, headers, total=total // 4, concurrency=1, stream=False)
            target.samples += part.samples
    failures = sum(not s.ok for s in through.samples)
    return {**added(through, direct), "failures": failures}


def rows_written(env: dict[str, str]) -> int:
    code = (
        "from calls.models import LLMCall; "
        f"print(LLMCall.objects.filter(agent_name={AGENT!r}).count())"
    )
    return int(manage(env, "shell", "-c", code).strip().splitlines()[-1])


def rows_forget(env: dict[str, str]) -> None:
    """The bench's rows go (one statement: they have no results or feedback)."""
    code = (
        "from django.db import connection; connection.cursor().execute("
        f"'DELETE FROM llm_gateway_llmcall WHERE agent_name = %s', [{AGENT!r}])"
    )
    manage(env, "shell", "-c", code)


def run(args: argparse.Namespace) -> dict:
    base_env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    with gateway_stack(
        latency_ms=0, db_url=args.db_url, base_env=base_env, workers=1, budget="none"
    ) as stack:
        rows_forget(stack.env)
        asyncio.run(probe(stack, 100))  # warm-up
        before = asyncio.run(probe(stack, args.probe))
        with tempfile.TemporaryDirectory() as spool:
            env = {**stack.env, "GATEWAY_SPOOL_DIR": spool}
            cmd = [sys.executable, __file__, "--worker", "--seconds", str(args.seconds)]
            # Unpinned: they stand for gateway processes elsewhere, not for this core.
            workers = [
                subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
                for _ in range(args.processes)
            ]
            time.sleep(min(5.0, args.seconds / 4))  # the writers at full speed first
            during = asyncio.run(probe(stack, args.probe))
            outs = [w.communicate(timeout=args.seconds + 600)[0] for w in workers]
        results = [json.loads(out.strip().splitlines()[-1]) for out in outs]
        written = rows_written(stack.env)
        rows_forget(stack.env)
    return {
        "case": "ingest",
        "bodies": True,
        "seconds": args.seconds,
        "processes": args.processes,
        "records_submitted": sum(r["submitted"] for r in results),
        "records_written": written,
        "records_per_s": round(written / max(r["wall_s"] for r in results)),
        # What a record costs the writing process (spool, redaction, COPY), whatever
        # share of the machine it got: on a busy machine the rate above is not the
        # capacity, this is its other half (the database server's share is not in it).
        "ingest_cpu_us_per_record": round(
            sum(r["cpu_s"] for r in results) / max(1, written) * 1e6, 1
        ),
        "probe_before": before,
        "probe_during": during,
        "added_p50_during_over_before": _ratio(during, before, "added_p50_ms"),
    }


def _ratio(during: dict, before: dict, key: str) -> float | None:
    return round(during[key] / before[key], 2) if before[key] > 0 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--probe", type=int, default=400, help="probe requests per phase (c=1)")
    parser.add_argument(
        "--processes", type=int, default=1, help="ingest processes (each one gateway's writer)"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(ingest(args.seconds)))
        return
    args.db_url = os.environ.get("DATABASE_URL", "")
    if not args.db_url.startswith("postgres"):
        parser.error("set DATABASE_URL=postgres://… (the bench measures PostgreSQL ingest)")
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
