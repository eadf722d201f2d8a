"""Retries of transient provider errors: exponential backoff, full jitter, Retry-After.

Full jitter (a random wait between 0 and the exponential cap) spreads retries of
many agents hit by the same outage, instead of having them retry in lockstep.
A provider's ``Retry-After`` is a floor: we never come back sooner than asked.
No retry may outlive the deadline; the caller then fails over instead.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from common.errors import LLMError

T = TypeVar("T")


@dataclass
class RetryPolicy:
    max_retries: int
    deadline: float  # time.monotonic() value after which no retry starts
    base_delay: float = 0.5
    max_delay: float = 8.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def delay_for(self, attempt: int, error: LLMError) -> float:
        """Wait before retry number ``attempt`` (0-based)."""
        cap = min(self.max_delay, self.base_delay * (2**attempt))
        delay = random.uniform(0, cap)
        if error.retry_after is not None:
            delay = max(delay, error.retry_after)
        return delay

    def allows(self, attempt: int, delay: float) -> bool:
        return attempt < self.max_retries and time.monotonic() + delay < self.deadline


async def call_with_retries(
    attempt_fn: Callable[[], Awaitable[T]], policy: RetryPolicy
) -> tuple[T, int]:
    """Run ``attempt_fn`` until it succeeds, a permanent error, or the policy says stop.

    Returns the result and how many retries it took. A raised error carries the
    retries already spent in ``error.retries`` so the caller can log them.
    """
    attempt = 0
    while True:
        try:
            return await attempt_fn(), attempt
        except LLMError as error:
            error.retries = attempt  # type: ignore[attr-defined]
            if error.permanent:
                raise
            delay = policy.delay_for(attempt, error)
            if not policy.allows(attempt, delay):
                raise
            await policy.sleep(delay)
            attempt += 1
