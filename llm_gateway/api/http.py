"""A protocol-neutral request/response for the API, with Django and raw-ASGI adapters.

The API's handlers take an ``ApiRequest`` and return an ``ApiResponse``. Under
the ASGI server the hot endpoints are served straight from the ASGI router
(``llm_gateway.api.asgi``): Django's request cycle costs a thread per request
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

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.request import RawPostDataException

from llm_gateway.ratelimit import rate_limit_hold, rate_limit_hold_release

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


async def django_served(handler: Handler, request: HttpRequest) -> HttpResponse:
    """A rate-limited handler under Django (tests, WSGI): the ASGI router's
    ``serve_asgi`` without its server, down to giving back unspent held tokens."""
    response = await handler(from_django(request))
    hold = rate_limit_hold()
    if response.stream is None:
        await rate_limit_hold_release(hold)
    else:
        response.stream = _released_after(response.stream, hold)
    return to_django(response)


async def _released_after(stream: AsyncIterator[Any], hold: Any) -> AsyncIterator[Any]:
    try:
        async for part in stream:
            yield part
    finally:
        await rate_limit_hold_release(hold)


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
