"""A per-provider circuit breaker.

After ``LLM_CIRCUIT_FAILURES`` consecutive failures a provider is skipped for
``LLM_CIRCUIT_COOLDOWN`` seconds, so a dead upstream costs callers nothing but
the failover. After the cool-down one call is let through (half-open); its
outcome closes or re-opens the circuit. State is per process: each process
learns on its own, which is enough to stop hammering a dead provider.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.conf import settings


@dataclass
class _State:
    failures: int = 0
    opened_at: float | None = None


class CircuitBreaker:
    def __init__(self) -> None:
        self._states: dict[str, _State] = {}
        self._lock = threading.Lock()

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
            self._states[name] = _State()

    def record_failure(self, name: str) -> None:
        with self._lock:
            st = self._get(name)
            st.failures += 1
            if st.failures >= settings.LLM_CIRCUIT_FAILURES:
                st.opened_at = time.monotonic()

    def reset(self) -> None:
        with self._lock:
            self._states.clear()


breaker = CircuitBreaker()
