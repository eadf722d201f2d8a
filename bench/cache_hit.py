"""Latency a response-cache hit adds over calling the upstream directly.

Method (docs/PERFORMANCE.md): the fake OpenAI upstream and this load generator on
CPU 0, the gateway as one uvicorn process on CPU 1 (``taskset``), a fresh SQLite
database, the local (in-process) cache. One entry is primed, then N cache hits
through the gateway and N direct calls to the upstream alternate at concurrency 1
after a warm-up; "added" is gateway minus direct at the same percentile.
Goal: a hit adds <= 2 ms at p50. Not run in CI (machines are noisy).

Usage: ``python bench/cache_hit.py [N]``; prints one JSON line.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "Summarise in one line why the gateway caches deterministic answers for agents"
BODY = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": PROMPT}],
    "temperature": 0,
    "max_tokens": 16,
}
WARMUP = 100


def pinned(cpu: int, command: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *command] if shutil.which("taskset") else command


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_upstream() -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        pinned(0, [sys.executable, str(ROOT / "tests" / "fake_openai.py"), "--port", "0"]),
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    line = process.stdout.readline().strip() if process.stdout else ""
    if not line.startswith("ready "):
        process.kill()
        raise SystemExit(f"fake upstream did not start: {line!r}")
    return process, line.split(" ", 1)[1]


def gateway_env(upstream_url: str, workdir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL")}
    env.update(
        DATABASE_URL=f"sqlite:///{workdir}/bench.sqlite3",
        OPENAI_API_KEY="sk-bench-not-a-real-key-0123456789",
        OPENAI_BASE_URL=upstream_url + "/v1",
        LLM_MOCK_FALLBACK="false",
        DEBUG="false",
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    command = [sys.executable, str(ROOT / "manage.py"), *args]
    return subprocess.run(
        command, env=env, cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def start_gateway(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    uvicorn = [sys.executable, "-m", "uvicorn", "infra_dashboard.asgi:application"]
    process = subprocess.Popen(
        pinned(1, [*uvicorn, "--port", str(port), "--no-access-log", "--log-level", "warning"]),
        env=env,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("gateway did not start")


def timed(client: httpx.Client, url: str, headers: dict[str, str]) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = client.post(url, json=BODY, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed, response


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def measure(gateway: str, upstream: str, key: str, n: int) -> dict[str, float]:
    auth = {"Authorization": f"Bearer {key}"}
    direct_auth = {"Authorization": "Bearer sk-bench-not-a-real-key-0123456789"}
    through, direct = [], []
    with httpx.Client(timeout=30) as client:
        _, primed = timed(client, gateway + "/v1/chat/completions", auth)
        assert primed.headers["x-gateway-cache"] == "miss", primed.headers
        for i in range(WARMUP + n):
            hit_ms, response = timed(client, gateway + "/v1/chat/completions", auth)
            assert response.headers["x-gateway-cache"] == "hit"
            direct_ms, _ = timed(client, upstream + "/v1/chat/completions", direct_auth)
            if i >= WARMUP:
                through.append(hit_ms)
                direct.append(direct_ms)
    result = {"n": n}
    for name, values in (("cache_hit", through), ("direct", direct)):
        result[f"{name}_p50_ms"] = round(statistics.median(values), 3)
        result[f"{name}_p95_ms"] = round(percentile(values, 95), 3)
    result["added_p50_ms"] = round(result["cache_hit_p50_ms"] - result["direct_p50_ms"], 3)
    result["added_p95_ms"] = round(result["cache_hit_p95_ms"] - result["direct_p95_ms"], 3)
    return result


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    if hasattr(os, "sched_setaffinity") and shutil.which("taskset"):
        os.sched_setaffinity(0, {0})  # the load generator shares CPU 0 with the upstream
    upstream, upstream_url = start_upstream()
    gateway = None
    with tempfile.TemporaryDirectory() as workdir:
        try:
            env = gateway_env(upstream_url, workdir)
            manage(env, "migrate", "--noinput")
            manage(env, "load_prices")
            key = manage(env, "create_gateway_key", "--agent", "bench").strip().splitlines()[-1]
            gateway, gateway_url = start_gateway(env)
            result = measure(gateway_url, upstream_url, key, n)
            result["goal_added_p50_ms"] = 2.0
            print(json.dumps(result))
        finally:
            for process in (gateway, upstream):
                if process is not None:
                    process.terminate()
                    process.wait(timeout=10)


if __name__ == "__main__":
    main()
