"""``x-ratelimit-*`` response headers, as OpenAI sends them.

Agents (and the SDKs' own backoff helpers) pace themselves by these; the
numbers are the ones the admission just read from the counters
(``llm_gateway.ratelimit``), so showing them costs no round trip.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from llm_gateway.ratelimit import LimitDecision


def reset_duration(seconds: int) -> str:
    """OpenAI's (Go-style) duration: ``12s``, ``1m0s``."""
    minutes, rest = divmod(max(0, seconds), 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def rate_limit_headers(decision: LimitDecision | None) -> dict[str, str]:
    """The limit, what is left and when it resets, for each limit the key has."""
    if decision is None:
        return {}
    headers: dict[str, str] = {}
    reset = reset_duration(decision.reset_after)
    if decision.rpm:
        headers["x-ratelimit-limit-requests"] = str(decision.rpm)
        headers["x-ratelimit-remaining-requests"] = str(
            max(0, decision.rpm - decision.requests_used)
        )
        headers["x-ratelimit-reset-requests"] = reset
    if decision.tpm:
        headers["x-ratelimit-limit-tokens"] = str(decision.tpm)
        headers["x-ratelimit-remaining-tokens"] = str(max(0, decision.tpm - decision.tokens_used))
        headers["x-ratelimit-reset-tokens"] = reset
    return headers


def anthropic_rate_limit_headers(decision: LimitDecision | None) -> dict[str, str]:
    """The same numbers as Anthropic names them (``anthropic-ratelimit-*``), for
    clients written against its API; the reset is an RFC 3339 time."""
    if decision is None or not (decision.rpm or decision.tpm):
        return {}
    reset = datetime.fromtimestamp(int(time.time()) + decision.reset_after, UTC)
    stamp = reset.strftime("%Y-%m-%dT%H:%M:%SZ")
    headers: dict[str, str] = {}
    for name, limit, used in (
        ("requests", decision.rpm, decision.requests_used),
        ("tokens", decision.tpm, decision.tokens_used),
    ):
        if limit:
            headers[f"anthropic-ratelimit-{name}-limit"] = str(limit)
            headers[f"anthropic-ratelimit-{name}-remaining"] = str(max(0, limit - used))
            headers[f"anthropic-ratelimit-{name}-reset"] = stamp
    return headers
