"""What one gateway process tells the others through Redis: cache invalidations
and circuit-breaker state.

Several processes (and hosts) share one database, but each keeps hot rows in
memory (``common.cache.ProcessCache``: keys, providers, budgets, rules…) and
its own circuit breaker. Without a bus an admin edit reaches another process
only when its TTL runs out, and an outage seen by one host is learnt again by
every other one, a failed call at a time. With ``REDIS_URL`` set:

- every local ``invalidate`` is published on a pub/sub channel (again after the
  transaction commits, so nobody reloads the row before the edit is visible),
  and each process's listener drops the same entry: an edit reaches every
  process in milliseconds, the TTL remaining the bound if a message is lost;
- a circuit opening or closing is published too, and kept in a hash, so a
  process that starts (or reconnects) later learns which circuits are open.

Redis being down never fails a call: publishing happens on a thread of its own
(a request never waits for Redis), the listener reconnects with a back-off,
and every failure is logged once until Redis answers again. After a
reconnection the listener drops every cached entry, since it may have missed
invalidations meanwhile. Without ``REDIS_URL`` nothing here runs.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Hashable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection, transaction

from common.cache import ALL, cache_named, invalidation_publisher_set, process_caches
from common.outage import OutageLog
from llm_gateway.circuit import breaker

logger = logging.getLogger(__name__)

RECONNECT_MAX_S = 5.0
_QUEUE_LIMIT = 10_000  # messages waiting for Redis; beyond it they are dropped (the TTLs remain)


def channel_names(url: str) -> tuple[str, str]:
    """(pub/sub channel, circuits hash) for ``url``. Pub/sub ignores database
    numbers, so the channel carries it: gateways on another database of the
    same server (another deployment, a test run) never hear this one."""
    database = (urlsplit(url).path or "/0").strip("/") or "0"
    return f"gateway:bus:{database}", "gateway:circuits"


def _encode_key(key: Any) -> dict[str, Any]:
    return {"all": True} if key is ALL else {"key": key}


def _decode_key(message: dict[str, Any]) -> Hashable:
    if message.get("all"):
        return ALL
    key = message.get("key")
    return tuple(key) if isinstance(key, list) else key  # JSON turned a tuple into a list


class ProcessBus:
    """One per process: a publishing thread and, in servers, a listening thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.channel, self.circuits = channel_names(url)
        self.source = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"  # to ignore our own messages
        self._outbox: queue.Queue[dict[str, Any] | None] = queue.Queue(_QUEUE_LIMIT)
        self._publisher: threading.Thread | None = None
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.connected = threading.Event()  # the listener is subscribed (tests, readiness)
        # A forked child (a Celery prefork worker) has none of its parent's threads.
        os.register_at_fork(after_in_child=self._forked)
        self._publish_log = OutageLog(
            logger, "process bus unavailable: other processes learn edits by TTL"
        )
        self._listen_log = OutageLog(
            logger, "process bus listener unavailable: cached rows expire by TTL"
        )

    def _forked(self) -> None:
        self.source = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._outbox = queue.Queue(_QUEUE_LIMIT)
        self._publisher = self._listener = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.connected = threading.Event()

    def _client(self) -> Any:
        import redis  # only when a bus is configured: see common.redis_client

        return redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=1)

    # --- publishing ---------------------------------------------------------------------

    def invalidation_publish(self, name: str, key: Any) -> None:
        """The ProcessCache seam: broadcast now and, inside a transaction, after its commit."""
        if not _shareable(key):
            return
        message = {"t": "inv", "cache": name, **_encode_key(key)}
        self._send(message)
        if connection.in_atomic_block:
            transaction.on_commit(lambda: self._send(message))

    def circuit_publish(self, name: str, opened_at: float | None) -> None:
        """The breaker's hook: a circuit opened (wall-clock time) or closed (None)."""
        self._send({"t": "circuit", "name": name, "opened_at": opened_at})

    def _send(self, message: dict[str, Any]) -> None:
        self._publisher_start()
        # Full: Redis has been down a while; the TTLs bound the staleness anyway.
        with contextlib.suppress(queue.Full):
            self._outbox.put_nowait({**message, "src": self.source})

    def _publisher_start(self) -> None:
        if self._publisher is not None:
            return
        with self._lock:
            if self._publisher is None:
                self._publisher = threading.Thread(
                    target=self._publish_loop, daemon=True, name="gateway-bus-publish"
                )
                self._publisher.start()

    def _publish_loop(self) -> None:
        client = None
        while True:
            message = self._outbox.get()
            if message is None:
                return
            try:
                client = client or self._client()
                self._publish_one(client, message)
                self._publish_log.recovered()
            except Exception as error:  # noqa: BLE001 - any Redis failure: log once, go on
                self._publish_log.failed(error)
                client = None
            finally:
                self._outbox.task_done()

    def _publish_one(self, client: Any, message: dict[str, Any]) -> None:
        if message["t"] == "circuit":
            if message["opened_at"] is None:
                client.hdel(self.circuits, message["name"])
            else:
                client.hset(self.circuits, message["name"], message["opened_at"])
                # Entries older than a cool-down are ignored; the hash goes with the last.
                client.expire(self.circuits, int(settings.LLM_CIRCUIT_COOLDOWN) * 2 + 1)
        client.publish(self.channel, json.dumps(message))

    def flush(self, timeout: float = 2.0) -> None:
        """Wait (bounded) until queued messages went out: a short-lived command's
        edit must reach the servers before the command exits."""
        deadline = time.monotonic() + timeout
        while self._outbox.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    # --- listening ----------------------------------------------------------------------

    def listen(self) -> None:
        """Start the listener (servers call it at startup; idempotent)."""
        with self._lock:
            if self._listener is not None:
                return
            self._stop.clear()
            self._listener = threading.Thread(
                target=self._listen_loop, daemon=True, name="gateway-bus-listen"
            )
            self._listener.start()

    def stop(self) -> None:
        self._stop.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.join(timeout=3)
        self.connected.clear()

    def _listen_loop(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            try:
                self._listen_once()
                backoff = 0.2
            except Exception as error:  # noqa: BLE001 - reconnect whatever happened
                self.connected.clear()
                self._listen_log.failed(error)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, RECONNECT_MAX_S)

    def _listen_once(self) -> None:
        client = self._client()
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.channel)
            # Subscribed first, then catch up: nothing published in between is missed.
            _caches_drop_all()
            self._circuits_load(client)
            self.connected.set()
            self._listen_log.recovered()
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message is not None:
                    self._apply(message.get("data"))
        finally:
            pubsub.close()
            client.close()

    def _circuits_load(self, client: Any) -> None:
        opened = client.hgetall(self.circuits)
        breaker.shared_load(
            {_text(name): float(value) for name, value in opened.items()}, time.time()
        )

    def _apply(self, data: Any) -> None:
        try:
            message = json.loads(data)
        except (TypeError, ValueError):
            return
        if not isinstance(message, dict) or message.get("src") == self.source:
            return
        if message.get("t") == "inv":
            _cache_drop(str(message.get("cache")), _decode_key(message))
        elif message.get("t") == "circuit":
            opened_at = message.get("opened_at")
            breaker.shared_apply(
                str(message.get("name")),
                None if opened_at is None else float(opened_at),
                time.time(),
            )


def _shareable(key: Any) -> bool:
    """Keys other processes can name the same way (prefixes, ids, None, tuples of them)."""
    if key is ALL or key is None or isinstance(key, str | int | float | bool):
        return True
    return isinstance(key, tuple) and all(_shareable(part) for part in key)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _cache_drop(name: str, key: Hashable) -> None:
    try:
        cache = cache_named(name)
    except KeyError:
        return  # that cache's module is not loaded in this process: nothing to drop
    cache.invalidate(key, publish=False)


def _caches_drop_all() -> None:
    for cache in process_caches():
        cache.invalidate(ALL, publish=False)


# --- the process's bus ----------------------------------------------------------------------

_bus: ProcessBus | None = None


def process_bus() -> ProcessBus | None:
    return _bus


def process_bus_install(url: str | None = None) -> ProcessBus | None:
    """Wire the bus in (LlmGatewayConfig.ready()): every process publishes its
    invalidations and circuit changes; only servers also listen (``listen``)."""
    global _bus
    url = settings.REDIS_URL if url is None else url
    process_bus_uninstall()
    if not url:
        return None
    _bus = ProcessBus(url)
    invalidation_publisher_set(_bus.invalidation_publish)
    breaker.on_change = _bus.circuit_publish
    atexit.register(_bus.flush)  # a command's edit goes out before it exits
    return _bus


def process_bus_uninstall() -> None:
    global _bus
    if _bus is not None:
        _bus.stop()
    _bus = None
    invalidation_publisher_set(None)
    breaker.on_change = None


def process_bus_listen() -> None:
    """The server's startup hook: hear the other processes."""
    if _bus is not None:
        _bus.listen()


def process_bus_stop() -> None:
    """The server's shutdown hook."""
    if _bus is not None:
        _bus.flush(timeout=1.0)
        _bus.stop()
