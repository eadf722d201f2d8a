"""Asyncio Redis clients, with redis-py imported on first use.

redis-py imports the OpenTelemetry SDK whenever it is installed (for its own
optional metrics). A gateway with neither Redis nor a collector configured
should not pay that start-up time and memory (llm_gateway.telemetry), so the
modules that may talk to Redis build their clients here, and redis-py is
loaded only once one is actually asked for.
"""

from __future__ import annotations

from typing import Any


def redis_from_url(url: str, **options: Any) -> Any:
    """``redis.asyncio.Redis.from_url``: a client (and its pool) for ``url``."""
    import redis.asyncio as aioredis  # first use only: see the module docstring

    return aioredis.Redis.from_url(url, **options)


def is_no_script_error(exc: BaseException) -> bool:
    """Redis answered NOSCRIPT (it restarted, or its scripts were flushed)."""
    from redis.exceptions import NoScriptError  # loaded already by any client

    return isinstance(exc, NoScriptError)
