"""The processes a gateway bench runs: the fake upstream, the gateway, a worker.

Shared by ``bench/overhead.py`` (the latency and throughput cells) and
``bench/profile.py`` (where the gateway's CPU goes), so both measure the same
gateway started the same way: ``manage.py serve`` pinned to CPU 1, the fake
upstream and the load on CPU 0.
"""

from __future__ import annotations

import contextlib
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM_KEY = "sk-bench-upstream-key-000000000000"
MODEL = "gpt-4o-mini"


def pinned(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and os.cpu_count() > 1 else []


def pin_self(cpu: int) -> None:
    """The load generator shares CPU 0 with the upstream, away from the gateway's core."""
    if hasattr(os, "sched_setaffinity") and os.cpu_count() > 1:
        os.sched_setaffinity(0, {cpu})


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


def wait_http(url: str, proc: subprocess.Popen, timeout: float, name: str) -> None:
    """Poll ``url`` until it answers; fail early if ``proc`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    stop(proc)
    raise RuntimeError(f"{name} did not start")


def stop(proc: subprocess.Popen) -> None:
    """End the process's whole session (each bench process starts one), then make
    sure nothing of it is left: a server's helper processes die with it."""
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    _signal_group(proc.pid, signal.SIGKILL)  # stragglers that outlived the leader


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def process_pids(pid: int) -> list[int]:
    """The process and its children (uvicorn's workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid] + ([int(p) for p in children.read_text().split()] if children.exists() else [])


def peak_rss_mib(pid: int) -> float:
    """VmHWM of the process and its children."""
    total = 0
    for p in process_pids(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU the processes (all their threads, children included)
    have used so far: what a call costs the machine, whatever the latency."""
    ticks = 0
    for p in process_pids(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def listening_addresses(pid: int) -> list[str]:
    """``host:port`` of every TCP socket the process listens on (from /proc), to
    check that a server under test is reachable from this machine only."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            cols = row.split()
            if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                found.append(_address(cols[1]))
    return found


def _address(hex_address: str) -> str:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        text = socket.inet_ntop(socket.AF_INET, raw[::-1])
    else:  # /proc prints IPv6 as four little-endian words
        words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
        text = "[" + socket.inet_ntop(socket.AF_INET6, words) + "]"
    return f"{text}:{int(port, 16)}"


def assert_loopback_only(pid: int, name: str) -> None:
    addresses = listening_addresses(pid)
    outside = [a for a in addresses if not a.startswith(("127.", "[::1]"))]
    if not addresses or outside:
        raise RuntimeError(f"{name} must listen on 127.0.0.1 only; it listens on {addresses}")


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
        # The call spool of this run only (calls.spool), on the same disk as /tmp.
        "GATEWAY_SPOOL_DIR": os.path.join(tempfile.gettempdir(), f"bench-spool-{os.getpid()}"),
    }
    # With Redis, as in production: tasks (the usage refresh after calls) go to
    # the broker and a worker process runs them, not the gateway's record thread.
    env.setdefault("CELERY_BROKER_URL", base.get("REDIS_URL", ""))
    return env


def start_gateway(
    port: int,
    workers: int,
    env: dict[str, str],
    *,
    wrapper: tuple[str, ...] = (),
    timeout: float = 60,
) -> subprocess.Popen:
    """``wrapper`` runs the server under another program (``bench/instructions.py``
    runs it under callgrind), which may need a longer ``timeout`` to start."""
    cmd = [
        *pinned(1),
        *wrapper,
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
    wait_http(f"http://127.0.0.1:{port}/healthz", proc, timeout, "the gateway")
    return proc


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
    # Its banner and task lines on stderr: stdout carries the bench's JSON.
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=sys.stderr, start_new_session=True)


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


@dataclass
class Stack:
    """A running fake upstream and gateway, with a key for the gateway."""

    upstream_url: str
    gateway: subprocess.Popen
    gateway_url: str
    key: str
    env: dict[str, str]  # the gateway's environment (another gateway starts alike)

    @property
    def direct_url(self) -> str:
        return self.upstream_url + "/v1/chat/completions"


@contextlib.contextmanager
def gateway_stack(
    *,
    latency_ms: int,
    db_url: str,
    base_env: dict[str, str],
    workers: int,
    budget: str,
    wrapper: tuple[str, ...] = (),
) -> Iterator[Stack]:
    """The upstream and the gateway as users run it, torn down on the way out."""
    pin_self(0)
    cmd = [*pinned(0), sys.executable, "tests/fake_openai.py", "--port", "0"]
    upstream, line = start_process([*cmd, "--latency-ms", str(latency_ms)], base_env, "ready")
    gateway = worker = None
    try:
        upstream_url = line.split()[-1]
        env = gateway_env(base_env, upstream_url, db_url)
        manage(env, "migrate", "--noinput")
        manage(env, "load_prices")
        # As users run it: the key has RPM and TPM limits (counted in Redis when
        # REDIS_URL is set; too high to refuse anything) and a budget covers every call.
        limits = ["--rpm", "100000000", "--tpm", "2000000000"]
        key = (
            manage(env, "create_gateway_key", "--agent", "bench", *limits).strip().splitlines()[-1]
        )
        budget_for_bench(env, budget)
        port = free_port()
        gateway = start_gateway(port, workers, env, wrapper=wrapper, timeout=600 if wrapper else 60)
        worker = start_worker(env)
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        yield Stack(upstream_url, gateway, url, key, env)
    finally:
        for proc in (gateway, worker, upstream):
            if proc is not None:
                stop(proc)
