"""A protocol-neutral request/response for the API, with Django and raw-ASGI adapters.

The API's handlers take an ``ApiRequest`` and return an ``ApiResponse``. Under
the ASGI server the hot endpoints are served straight from the ASGI router
(``infra_dashboard.asgi``): Django's request cycle costs a thread per request
(thread-sensitive context), two signal round trips and ten middlewares, which
is more than the whole gateway's own work. The same handlers also sit behind
ordinary Django views, so the URLconf and the test client keep working.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.request import RawPostDataException

logger = logging.getLogger(__name__)


@dataclass
class ApiRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""
    query: dict[str, str] = field(default_factory=dict)
    too_large: bool = False
    # Served by the long-lived ASGI server loop, which drains its background
    # record writer at shutdown (calls.recorder).
    background_writes: bool = False


@dataclass
class ApiResponse:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    stream: AsyncIterator[str] | None = None


Handler = Callable[[ApiRequest], Awaitable[ApiResponse]]
T = TypeVar("T")


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> ApiResponse:
    return ApiResponse(status=status, body=json.dumps(data).encode(), headers=dict(headers or {}))


# --- Django adapter -----------------------------------------------------------------


def from_django(request: HttpRequest) -> ApiRequest:
    headers = {name.lower(): value for name, value in request.headers.items()}
    try:
        body, too_large = request.body, False
    except (RequestDataTooBig, RawPostDataException):
        body, too_large = b"", True
    return ApiRequest(
        request.method or "GET", request.path, headers, body, dict(request.GET.items()), too_large
    )


def to_django(response: ApiResponse) -> HttpResponse:
    if response.stream is not None:
        out: HttpResponse = StreamingHttpResponse(
            response.stream, status=response.status, content_type=response.content_type
        )
    else:
        out = HttpResponse(
            response.body, status=response.status, content_type=response.content_type
        )
    for name, value in response.headers.items():
        out[name] = value
    return out


# --- raw ASGI adapter ---------------------------------------------------------------------


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
    body, too_large = await _read_body(scope, receive)
    from llm_gateway.api.resilience import guarded  # OpenAI-shaped 405/503/500

    response = await guarded(handler, _asgi_request(scope, body, too_large))
    await send(_start(response))
    if response.stream is None:
        await send({"type": "http.response.body", "body": response.body})
        return
    await _relay(response.stream, receive, send)


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


# A reader that runs ahead of a slow client keeps at most this many items.
_MAX_AHEAD = 256


async def arrived_together(first: T, rest: AsyncIterator[T]) -> AsyncIterator[list[T]]:
    """``first`` then ``rest``, grouped by what arrived together.

    A stream's chunks come in bursts (a provider's network read holds several),
    and each write to the client costs a system call and a wake-up of the
    reader at the other end: that, not the parsing, was most of a stream's CPU.
    A reader task pulls ``rest`` as fast as it comes; each time this generator
    resumes it takes everything pulled so far. Nothing is ever held back
    waiting for more. Closing this generator cancels the reader, so ``rest``
    sees the cancellation exactly as it would have without the reader.
    """
    ready: list[T] = [first]
    arrived, room = asyncio.Event(), asyncio.Event()
    arrived.set()
    finished: list[BaseException | None] = []

    async def read() -> None:
        try:
            async for item in rest:
                ready.append(item)
                arrived.set()
                if len(ready) >= _MAX_AHEAD:
                    room.clear()
                    await room.wait()
        except BaseException as exc:  # handed to the consumer below
            finished.append(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        else:
            finished.append(None)
        finally:
            arrived.set()

    reader = asyncio.ensure_future(read())
    try:
        while True:
            await arrived.wait()
            arrived.clear()
            if ready:
                batch = ready[:]
                ready.clear()
                room.set()
                yield batch
            if finished and not ready:
                if finished[0] is not None:
                    raise finished[0]
                return
    finally:
        if not reader.done():
            reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
