"""Streamed downloads that stay streamed under ASGI as well as WSGI.

Django serves a ``StreamingHttpResponse`` built on a plain iterator under ASGI
by first reading the whole iterator into a list (it warns "must consume
synchronous iterators"), so a large export would sit in memory before its
first byte left. Under ASGI the chunks are therefore pulled one at a time
through ``sync_to_async``: each chunk's database work runs on the request's
own sync thread, and only one chunk is held at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse


async def chunks_pulled(chunks: Iterator[str]) -> AsyncIterator[str]:
    step = sync_to_async(next, thread_sensitive=True)
    while (chunk := await step(chunks, None)) is not None:
        yield chunk


def streamed_download(
    request: HttpRequest, chunks: Iterator[str], *, content_type: str, filename: str
) -> StreamingHttpResponse:
    """``chunks`` as an attachment, pulled lazily by whichever server runs us."""
    content = chunks_pulled(chunks) if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    # A proxy that buffers would undo the streaming (nginx honours this header).
    response["X-Accel-Buffering"] = "no"
    return response
