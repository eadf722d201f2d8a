"""The providers' SDK clients: one per event loop and configuration.

A client's connection pool belongs to the loop that opened its connections, so
clients are kept per loop, and closed when that loop shuts down. The SDKs run
on their aiohttp transport (``openai[aiohttp]``, the SDKs' own option for
concurrency): measured here it spends 0.4 ms less CPU per stream and 0.2 ms less
per completion than the default httpx transport, most of a call's own cost.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

# The SDKs' aiohttp transport imports aiohttp on first use; imported here, at
# startup, so fifty concurrent first calls never see it half-initialised.
import aiohttp  # noqa: F401
import httpx2

C = TypeVar("C")

# The SDKs keep 100 idle connections: past 100 calls in flight, every answer
# closed a connection and the next call opened one. Keep as many as may be open.
POOL_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=1000)

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, Any]] = (
    weakref.WeakKeyDictionary()
)


def loop_client(key: tuple, build: Callable[[], C]) -> C:
    """The client for ``key`` on the running loop, built once with ``build``."""
    loop = asyncio.get_running_loop()
    per_loop = _clients.setdefault(loop, {})
    entry = per_loop.get(key)
    if entry is None:
        client = build()
        entry = per_loop[key] = (client, closed_with_loop(loop, client))
    return entry[0]


def sdk_client(
    client_cls: Callable[..., C], http_client_cls: type, *, timeout: float, **options: Any
) -> C:
    """The SDK client of ``client_cls`` for these options on the running loop.

    Every provider's client is built the same way: the SDK's own retries off
    (the gateway retries, counts and fails over itself), the SDK's aiohttp
    transport with the pool sized for every call in flight."""
    key = (client_cls, timeout, *sorted(options.items()))
    return loop_client(
        key,
        lambda: client_cls(
            timeout=timeout,
            max_retries=0,
            http_client=http_client_cls(limits=POOL_LIMITS, timeout=timeout),
            **options,
        ),
    )


def closed_with_loop(loop: asyncio.AbstractEventLoop, client: Any) -> AsyncIterator[None]:
    """Close ``client`` when its loop shuts down (``asyncio.run``, uvicorn and
    asgiref all finalise a loop's async generators before closing it): an
    aiohttp session left open is reported as an error when it is collected.
    Keep the returned generator referenced for as long as the client lives."""

    async def parked() -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.close()

    generator = parked()

    async def start() -> None:
        await anext(generator)  # registers it with the loop, parked at ``yield``

    loop.create_task(start())
    return generator
