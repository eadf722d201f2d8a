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

Prints one JSON line per case.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loadgen import Result, percentile, run_load  # noqa: E402

PROMPT = (
    "Summarise the main trade-offs between managed Kubernetes and serverless "
    "containers for a small platform team please"
)  # ~20 words
UPSTREAM_KEY = "sk-bench-upstream-key-000000000000"
MODEL = "gpt-4o-mini"


def pinned(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and os.cpu_count() > 1 else []


def start_process(
    cmd: list[str], env: dict[str, str], ready: str, timeout: float = 30
) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise RuntimeError(f"{cmd[0]} exited: {proc.returncode}")
        if ready in line:
            return proc, line.strip()
    stop(proc)
    raise RuntimeError(f"{' '.join(cmd)} did not become ready")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gateway(port: int, workers: int, env: dict[str, str]) -> subprocess.Popen:
    cmd = [
        *pinned(1),
        sys.executable,
        "manage.py",
        "serve",  # the production command and server settings
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    stop(proc)
    raise RuntimeError("the gateway did not start")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def peak_rss_mib(pid: int) -> float:
    """VmHWM of the process and its children (uvicorn workers)."""
    total = 0
    for p in _gateway_pids(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


def _gateway_pids(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid] + ([int(p) for p in children.read_text().split()] if children.exists() else [])


def cpu_seconds(pid: int) -> float:
    """User + system CPU the gateway processes (workers included) have used so far:
    what a call costs the machine, whatever the latency it adds at this load."""
    ticks = 0
    for p in _gateway_pids(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def gateway_env(base: dict[str, str], upstream: str, db_url: str) -> dict[str, str]:
    env = {
        **base,
        "DATABASE_URL": db_url,
        "OPENAI_API_KEY": UPSTREAM_KEY,
        "OPENAI_BASE_URL": upstream + "/v1",
        "LLM_MOCK_FALLBACK": "false",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "LLM_MAX_RETRIES": "0",
        "SECRET_KEY": "bench-secret-key-" + "x" * 40,
        # The call spool of this run only (llm_gateway.spool), on the same disk as /tmp.
        "GATEWAY_SPOOL_DIR": os.path.join(tempfile.gettempdir(), f"bench-spool-{os.getpid()}"),
    }
    # With Redis, as in production: tasks (the usage refresh after calls) go to
    # the broker and a worker process runs them, not the gateway's record thread.
    env.setdefault("CELERY_BROKER_URL", base.get("REDIS_URL", ""))
    return env


def start_worker(env: dict[str, str]) -> subprocess.Popen | None:
    """A Celery worker beside the upstream and the load (CPU 0), when there is
    a broker; without one tasks run eagerly in the gateway, as with `make run`."""
    if not env.get("CELERY_BROKER_URL"):
        return None
    cmd = [
        *pinned(0),
        sys.executable,
        "-m",
        "celery",
        "-A",
        "infra_dashboard",
        "worker",
        "--pool=solo",
        "--loglevel=WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True)


def manage(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", *args],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


def budget_for_bench(env: dict[str, str], action: str) -> None:
    """One global monthly budget far above what the bench spends (or none)."""
    code = "from costs.models import Budget; Budget.objects.filter(name='bench').delete()"
    if action != "none":
        code += (
            "; from costs.budgets import budget_create; budget_create(name='bench', "
            f"amount='1000000', period='monthly', action='{action}')"
        )
    manage(env, "shell", "-c", code)


def upstream_stats(upstream_url: str, *, reset: bool = False) -> dict:
    """The fake upstream's count of chat calls open at once (tests/fake_openai.py)."""
    url = f"{upstream_url}/fake/stats" + ("?reset=1" if reset else "")
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


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


async def measure(url: str, key: str, *, total: int, concurrency: int, stream: bool) -> Result:
    body = {
        "model": MODEL,
        "max_tokens": 16,
        "stream": stream,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    headers = {"Authorization": f"Bearer {key}"}
    return await run_load(
        url, body=body, headers=headers, total=total, concurrency=concurrency, stream=stream
    )


def requests_for(latency_ms: int, concurrency: int, base: int) -> int:
    if latency_ms == 0:
        return base
    return min(2000, max(100, concurrency * 10))


def run_latency(args: argparse.Namespace, latency_ms: int, db_url: str, base_env: dict) -> None:
    os.sched_setaffinity(0, {0}) if hasattr(
        os, "sched_setaffinity"
    ) and os.cpu_count() > 1 else None
    upstream, line = start_process(
        [
            *pinned(0),
            sys.executable,
            "tests/fake_openai.py",
            "--port",
            "0",
            "--latency-ms",
            str(latency_ms),
        ],
        base_env,
        "ready",
    )
    upstream_url = line.split()[-1]
    env = gateway_env(base_env, upstream_url, db_url)
    manage(env, "migrate", "--noinput")
    manage(env, "load_prices")
    # As users run it: the key has RPM and TPM limits (counted in Redis when
    # REDIS_URL is set; too high to refuse anything) and a budget covers every call.
    limits = ["--rpm", "100000000", "--tpm", "2000000000"]
    key = manage(env, "create_gateway_key", "--agent", "bench", *limits).strip().splitlines()[-1]
    budget_for_bench(env, args.budget)
    port = free_port()
    gateway = start_gateway(port, args.workers, env)
    worker = start_worker(env)
    litellm, litellm_url = None, ""
    if args.litellm:
        from bench.litellm_proxy import MASTER_KEY, start_litellm

        litellm_port = free_port()
        litellm = start_litellm(
            port=litellm_port,
            upstream_url=upstream_url,
            upstream_key=UPSTREAM_KEY,
            model=MODEL,
            cpu=pinned(1),
            folder=Path(tempfile.mkdtemp(prefix="bench-litellm-")),
        )
        litellm_url = f"http://127.0.0.1:{litellm_port}/v1/chat/completions"
    gw_url = f"http://127.0.0.1:{port}/v1/chat/completions"
    direct_url = upstream_url + "/v1/chat/completions"
    try:
        asyncio.run(measure(gw_url, key, total=300, concurrency=10, stream=False))  # warm-up
        if litellm is not None:
            asyncio.run(measure(litellm_url, MASTER_KEY, total=300, concurrency=10, stream=False))
        for stream in args.streams:
            for concurrency in args.concurrency:
                total = requests_for(latency_ms, concurrency, args.requests)
                direct = asyncio.run(
                    measure(
                        direct_url,
                        UPSTREAM_KEY,
                        total=total,
                        concurrency=concurrency,
                        stream=stream,
                    )
                )
                upstream_stats(upstream_url, reset=True)
                cpu_before = cpu_seconds(gateway.pid)
                through = asyncio.run(
                    measure(gw_url, key, total=total, concurrency=concurrency, stream=stream)
                )
                cpu_used = cpu_seconds(gateway.pid) - cpu_before
                peak = upstream_stats(upstream_url)["peak_in_flight"]
                extra = {
                    "stream": stream,
                    "concurrency": concurrency,
                    "upstream_latency_ms": latency_ms,
                    "workers": args.workers,
                    "budget": args.budget,
                    "db": db_url.split(":")[0],
                }
                line = summarise("gateway", through, direct, extra)
                line["direct_p50_ms"] = _round(
                    percentile([s.latency * 1000 for s in direct.samples if s.ok], 0.5)
                )
                line["direct_rps"] = round(len(direct.samples) / direct.wall, 1)
                line["gateway_peak_rss_mib"] = peak_rss_mib(gateway.pid)
                # Includes the record writer finishing the run's last batch (10 ms).
                line["gateway_cpu_ms_per_call"] = _round(cpu_used * 1000 / max(total, 1))
                # All `concurrency` calls open upstream at once: nothing in the gateway
                # (a pool, a thread per call, a semaphore) capped them.
                line["upstream_peak_in_flight"] = peak
                print(json.dumps(line), flush=True)
                if litellm is not None:
                    compared = litellm_line(litellm, litellm_url, line, direct, extra, total)
                    print(json.dumps(compared), flush=True)
    finally:
        stop(gateway)
        stop(upstream)
        for helper in (worker, litellm):
            if helper is not None:
                stop(helper)


def litellm_line(
    proc: subprocess.Popen, url: str, gateway: dict, direct: Result, extra: dict, total: int
) -> dict:
    """The same cell through the LiteLLM proxy, and how the gateway compares."""
    from bench.litellm_proxy import MASTER_KEY, VERSION

    cpu_before = cpu_seconds(proc.pid)
    proxied = asyncio.run(
        measure(
            url,
            MASTER_KEY,
            total=total,
            concurrency=extra["concurrency"],
            stream=extra["stream"],
        )
    )
    cell = {k: extra[k] for k in ("stream", "concurrency", "upstream_latency_ms")}
    line = summarise(f"litellm-{VERSION}", proxied, direct, cell)
    line["proxy_cpu_ms_per_call"] = _round((cpu_seconds(proc.pid) - cpu_before) * 1000 / total)
    line["gateway_rps_ratio"] = round(gateway["rps"] / line["rps"], 2) if line["rps"] else None
    if gateway["added_p50_ms"] and line.get("added_p50_ms"):
        ratio = line["added_p50_ms"] / gateway["added_p50_ms"]
        line["litellm_added_over_gateway"] = round(ratio, 2)
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", default="1,10,50,200")
    parser.add_argument("--latency", default="0,200")
    parser.add_argument("--workers", type=int, default=1)
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
    args = parser.parse_args()
    args.streams = {"both": (False, True), "yes": (True,), "no": (False,)}[args.stream]
    if args.quick:
        args.concurrency, args.latency = "1,50", "0"
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    base_env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    with tempfile.TemporaryDirectory() as tmp:
        db_url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.sqlite3"
        for latency in (int(v) for v in args.latency.split(",")):
            run_latency(args, latency, db_url, base_env)


if __name__ == "__main__":
    main()
