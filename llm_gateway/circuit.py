"""A per-provider circuit breaker.

After ``LLM_CIRCUIT_FAILURES`` consecutive failures a provider is skipped for
``LLM_CIRCUIT_COOLDOWN`` seconds, so a dead upstream costs callers nothing but
the failover. After the cool-down calls are let through again (half-open); the
first outcome closes or re-opens the circuit.

Failures are counted in each process, but a circuit that opens or closes is
shared: with ``REDIS_URL`` the process bus (``llm_gateway.process_bus``)
publishes the change through ``on_change`` and applies the others' through
``shared_apply``, so an outage one host saw routes every host away at once.
The hot path never waits for Redis: ``allows`` reads local state only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings


@dataclass
class _State:
    failures: int = 0
    opened_at: float | None = None  # time.monotonic() of this process


class CircuitBreaker:
    def __init__(self) -> None:
        self._states: dict[str, _State] = {}
        self._lock = threading.Lock()
        # Called with (provider, wall-clock time it opened | None when it closed).
        self.on_change: Callable[[str, float | None], None] | None = None

    def _get(self, name: str) -> _State:
        return self._states.setdefault(name, _State())

    def state(self, name: str) -> str:
        with self._lock:
            st = self._get(name)
            if st.opened_at is None:
                return "closed"
            if time.monotonic() - st.opened_at >= settings.LLM_CIRCUIT_COOLDOWN:
                return "half_open"
            return "open"

    def allows(self, name: str) -> bool:
        return self.state(name) != "open"

    def record_success(self, name: str) -> None:
        with self._lock:
            previous = self._states.get(name)
            self._states[name] = _State()
        # Only a circuit that was open is news; a success on a closed one costs nothing.
        if previous is not None and previous.opened_at is not None:
            self._announce(name, None)

    def record_failure(self, name: str) -> None:
        with self._lock:
            st = self._get(name)
            st.failures += 1
            opened = st.failures >= settings.LLM_CIRCUIT_FAILURES
            if opened:
                st.opened_at = time.monotonic()
        if opened:
            self._announce(name, time.time())

    def _announce(self, name: str, opened_at: float | None) -> None:
        if self.on_change is not None:
            self.on_change(name, opened_at)

    def shared_apply(self, name: str, opened_at: float | None, now: float) -> None:
        """Another process opened (at wall-clock ``opened_at``) or closed the circuit."""
        with self._lock:
            if opened_at is None:
                self._states[name] = _State()
                return
            st = self._get(name)
            st.failures = max(st.failures, settings.LLM_CIRCUIT_FAILURES)
            st.opened_at = time.monotonic() - max(0.0, now - opened_at)

    def shared_load(self, opened: dict[str, float], now: float) -> None:
        """The circuits open elsewhere, read when the bus (re)connects."""
        for name, opened_at in opened.items():
            if now - opened_at < settings.LLM_CIRCUIT_COOLDOWN:
                self.shared_apply(name, opened_at, now)

    def reset(self) -> None:
        with self._lock:
            self._states.clear()


breaker = CircuitBreaker()
