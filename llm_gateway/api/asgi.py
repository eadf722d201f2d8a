"""The ASGI application: the agent-facing API straight from the router, the rest through Django.

The hot endpoints (``FAST_ROUTES``) skip Django's request cycle, which costs a
thread per request, two signal round trips and ten middlewares: more than the
gateway's own work. Every other path (pages, admin, probes) goes through
Django as usual. The lifespan protocol is answered here so the server can tell
the app it is stopping, and the call records still queued are written first;
at startup it starts the sweeper that replays the write-ahead spool files of
processes that died (``calls.spool_recovery``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import parse_qsl

from django.conf import settings

from calls.recorder import records_flush
from calls.spool_recovery import spool_sweeper_start, spool_sweeper_stop
from llm_gateway.api.database_thread import api_database_context
from llm_gateway.api.http import ApiRequest, ApiResponse, Handler
from llm_gateway.api.resilience import guarded  # OpenAI-shaped 405/503/500
from llm_gateway.api.routes import FAST_ROUTES
from llm_gateway.process_bus import process_bus_listen, process_bus_stop
from llm_gateway.ratelimit import rate_limit_hold_release
from llm_gateway.refusals import refusals_flush

logger = logging.getLogger(__name__)

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


def gateway_application(
    django_application: ASGIApp,
    *,
    on_startup: Callable[[], None] | None = None,
    on_shutdown: Callable[[], None] | None = None,
) -> ASGIApp:
    """The server's application: FAST_ROUTES here, everything else to Django.

    ``on_startup``/``on_shutdown`` are the project's own hooks (the embedded
    periodic jobs), passed down so this layer never imports the project package."""

    async def application(scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            handler = FAST_ROUTES.get(scope["path"])
            if handler is not None:
                # The API's database work on its own thread, never behind a page's.
                async with api_database_context():
                    return await serve_asgi(handler, scope, receive, send)
        elif scope["type"] == "lifespan":
            return await _lifespan(receive, send, on_startup, on_shutdown)
        return await django_application(scope, receive, send)

    return application


async def _lifespan(
    receive: Callable,
    send: Callable,
    on_startup: Callable[[], None] | None,
    on_shutdown: Callable[[], None] | None,
) -> None:
    sweeper = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if on_startup is not None:
                on_startup()
            process_bus_listen()  # hear the other processes' edits and circuits
            # Replays what killed processes left in the spool, then keeps watching.
            sweeper = spool_sweeper_start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if on_shutdown is not None:
                on_shutdown()
            process_bus_stop()
            await refusals_flush()  # pending aggregated refusal rows go to the writer first
            await records_flush()
            await spool_sweeper_stop(sweeper)  # and the drained spool files go
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(scope: dict, receive: Callable) -> tuple[bytes, bool]:
    """The request body, or (b"", True) as soon as it exceeds the configured limit."""
    limit = settings.GATEWAY_MAX_BODY_BYTES
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            return b"", True
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", False
        piece = message.get("body", b"")
        size += len(piece)
        if size > limit:
            return b"", True
        chunks.append(piece)
        more = message.get("more_body", False)
    return b"".join(chunks), False


def _asgi_request(scope: dict, body: bytes, too_large: bool) -> ApiRequest:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    background = settings.GATEWAY_BACKGROUND_RECORDS
    return ApiRequest(scope["method"], scope["path"], headers, body, query, too_large, background)


def _start(response: ApiResponse) -> dict:
    headers = [(b"content-type", response.content_type.encode())]
    headers += [
        (k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in response.headers.items()
    ]
    if response.stream is None:
        headers.append((b"content-length", str(len(response.body)).encode()))
    return {"type": "http.response.start", "status": response.status, "headers": headers}


async def serve_asgi(handler: Handler, scope: dict, receive: Callable, send: Callable) -> None:
    try:
        body, too_large = await _read_body(scope, receive)
        response = await guarded(handler, _asgi_request(scope, body, too_large))
        await send(_start(response))
        if response.stream is None:
            await send({"type": "http.response.body", "body": response.body})
            return
        await _relay(response.stream, receive, send)
    finally:
        await rate_limit_hold_release()  # tokens held by a call that spent none


async def _relay(stream: AsyncIterator[str], receive: Callable, send: Callable) -> None:
    """Send the stream; if the client goes away, cancel it so the call is closed
    (and recorded as ``client_disconnected``) at once, not at the next chunk."""

    async def pump() -> None:
        try:
            async for piece in stream:
                data = piece.encode() if isinstance(piece, str) else piece
                await send({"type": "http.response.body", "body": data, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    pumping = asyncio.ensure_future(pump())
    watching = asyncio.ensure_future(disconnected())
    done, _ = await asyncio.wait({pumping, watching}, return_when=asyncio.FIRST_COMPLETED)
    if pumping not in done:
        pumping.cancel()
    watching.cancel()
    results = await asyncio.gather(pumping, watching, return_exceptions=True)
    error = results[0]
    if isinstance(error, BaseException) and not isinstance(error, asyncio.CancelledError | OSError):
        logger.error("streaming response failed", exc_info=error)
