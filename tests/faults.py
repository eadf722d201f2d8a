"""Real processes and sockets for fault tests: a cuttable TCP proxy and process helpers.

The shared PostgreSQL and Redis servers must never be stopped (other suites use
them), so an outage is simulated between the gateway and the service: the
gateway under test is pointed at a ``TCPProxy`` on 127.0.0.1, and ``cut()``
closes every proxied connection and refuses new ones exactly as a stopped
server would, until ``restore()``.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent


class TCPProxy:
    """Forwards 127.0.0.1:<port> to ``target``; ``cut()`` and ``restore()`` an outage.

    Threads rather than asyncio: the proxy must keep working while the test's
    own thread blocks on a subprocess or a database query.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(256)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        self._cut = threading.Event()
        self._stop = threading.Event()
        self.connections = 0
        self._thread = threading.Thread(target=self._accept_loop, daemon=True, name="tcp-proxy")

    def start(self) -> TCPProxy:
        self._thread.start()
        return self

    def cut(self) -> None:
        """Close every proxied connection; new connections are refused (RST) until restore()."""
        self._cut.set()
        with self._lock:
            pairs, self._pairs = list(self._pairs), set()
        for pair in pairs:
            for sock in pair:
                _abort(sock)  # the pump thread wakes up and closes both (with RST)

    def restore(self) -> None:
        self._cut.clear()

    def stop(self) -> None:
        self._stop.set()
        self.cut()
        self._thread.join(timeout=5)
        self._listener.close()

    def __enter__(self) -> TCPProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set():
                _hard_close(client)  # what a stopped server looks like: a reset
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                _hard_close(client)
                continue
            pair = (client, upstream)
            with self._lock:
                self._pairs.add(pair)
                self.connections += 1
            threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _pump(self, pair: tuple[socket.socket, socket.socket]) -> None:
        client, upstream = pair
        peer = {client: upstream, upstream: client}
        selector = selectors.DefaultSelector()
        try:
            for sock in pair:
                sock.setblocking(True)
                selector.register(sock, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.5):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    peer[key.fileobj].sendall(data)  # type: ignore[index]
        except (OSError, ValueError):
            return
        finally:
            selector.close()
            with self._lock:
                self._pairs.discard(pair)
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.close()


def _abort(sock: socket.socket) -> None:
    """Wake the pump without closing: closing here could let the fd be reused under it."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _hard_close(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), so the peer sees a dead server, not a polite FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.1) -> object:
    """Poll ``predicate`` until truthy or ``timeout`` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


class Process:
    """A child process with its output in a file, killed (whole group) on stop()."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._log: IO[bytes] = log.open("wb")
        self.popen = subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float) -> bool:
        return bool(
            wait_until(lambda: text in self.output() or self.popen.poll() is not None, timeout)
        ) and (text in self.output())

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
        self.kill(signal.SIGKILL)
        self._log.close()


@contextlib.contextmanager
def started(process: Process) -> Iterator[Process]:
    try:
        yield process
    finally:
        process.stop()


def child_env(**overrides: str) -> dict[str, str]:
    """The test's environment for a child process, with the overrides applied."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(overrides)
    env["DJANGO_SETTINGS_MODULE"] = "infra_dashboard.settings"
    env["PYTHONPATH"] = str(REPO)
    return env


def upstream_env(upstream, **overrides: str) -> dict[str, str]:
    """A gateway's environment for the fake ``upstream``, this test's keys and
    database, no mock fallback and no broker; ``overrides`` win."""
    from django.conf import settings

    return {
        "OPENAI_API_KEY": "sk-upstream-secret-0123456789abcdef",
        "OPENAI_BASE_URL": upstream.base_url,
        "LLM_MOCK_FALLBACK": "false",
        "SECRET_KEY": settings.SECRET_KEY,  # key hashes must match the test's
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": "",
        "DATABASE_URL": database_url(),
        **overrides,
    }


def start_gateway(tmp_path: Path, **env: str) -> tuple[Process, str]:
    """The gateway in its own server process, so its connection handling is real."""
    port = free_port()
    # Its own spool: a file a killed gateway left must only ever meet this test's database.
    env.setdefault("GATEWAY_SPOOL_DIR", str(tmp_path / "spool"))
    process = Process(
        # The production command and server settings (llm_gateway.serving); lifespan on,
        # so shutdown drains the background record writer.
        [PYTHON, str(REPO / "manage.py"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        child_env(**env),
        tmp_path / f"gateway-{port}.log",
    )
    url = f"http://127.0.0.1:{port}"
    if not process.wait_for_output("Uvicorn running on", timeout=30):
        process.stop()
        raise RuntimeError("gateway did not start:\n" + process.output())
    return process, url


def start_worker(tmp_path: Path, name: str, queue: str, **env: str) -> Process:
    """A Celery worker on a private queue; ready once it logs 'ready'."""
    process = Process(
        [
            str(BIN / "celery"),
            "-A",
            "infra_dashboard",
            "worker",
            "--concurrency=1",
            "--pool=prefork",
            "-Q",
            queue,
            "--hostname",
            f"{name}@%h",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        child_env(**env),
        tmp_path / f"worker-{name}.log",
    )
    if not process.wait_for_output("ready", timeout=60):
        process.stop()
        raise RuntimeError("worker did not start:\n" + process.output())
    return process


def database_url(*, port: int | None = None) -> str:
    """A URL for the test's own database (pytest-django's ``test_<name>``), maybe via a proxy."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    return f"postgres://{user}{password}@{host}:{port or db.get('PORT') or 5432}/{db['NAME']}"
