"""Embeddings, the Responses API, legacy completions and moderations on the OpenAI SDK.

Shared by OpenAI, Azure OpenAI and OpenAI-compatible providers: each brings its
``client()`` and, for Azure, ``upstream_model`` (model → deployment). Bodies
travel in ``extra_body`` as the agent sent them, so a field the gateway does
not know reaches the provider unchanged; answers are read raw and relayed as
the provider's bytes (an embedding answer re-encoded costs more CPU than the
rest of the call). ``headers`` are the gateway's own for the provider (its
``traceparent``: ``llm_gateway.telemetry``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import openai

from llm_gateway.interface import LLMProviderError
from llm_gateway.operations import OperationReply, SSEEvent
from llm_gateway.providers.openai_wire import drained, json_loads, map_openai_error, sdk_stream

_NO_INPUT = ""
Headers = Mapping[str, str] | None


def _sent(body: dict[str, Any], headers: Headers) -> dict[str, Any]:
    """What every call sends besides the fields the SDK insists on: the agent's
    body as written, and the gateway's own headers."""
    return {"extra_body": body, "extra_headers": headers}


class OpenAIOperations:
    """Mixin for providers with an OpenAI SDK ``client()``."""

    name: str

    def client(self) -> Any:  # provided by the provider class
        raise NotImplementedError

    def upstream_model(self, model: str) -> str:
        """The name the upstream knows ``model`` by (Azure: its deployment)."""
        return model

    def _outgoing(self, body: dict[str, Any]) -> dict[str, Any]:
        out = dict(body)
        if isinstance(out.get("model"), str):
            out["model"] = self.upstream_model(out["model"])
        return out

    async def embed(self, body: dict[str, Any], headers: Headers = None) -> OperationReply:
        out = self._outgoing(body)
        # The SDK asks for base64 (and decodes it itself) when no format is given;
        # relayed raw, that would hand a caller expecting floats a string.
        fmt = out.get("encoding_format") or "float"
        return await self._reply(
            lambda c: c.embeddings.with_raw_response.create(
                model=out["model"], input=_NO_INPUT, encoding_format=fmt, **_sent(out, headers)
            )
        )

    async def respond(self, body: dict[str, Any], headers: Headers = None) -> OperationReply:
        out = self._outgoing(body)
        return await self._reply(
            lambda c: c.responses.with_raw_response.create(**_sent(out, headers))
        )

    def respond_stream(
        self, body: dict[str, Any], headers: Headers = None
    ) -> AsyncIterator[SSEEvent]:
        out = self._outgoing(body)
        return self._events(
            lambda c: c.responses.with_streaming_response.create(stream=True, **_sent(out, headers))
        )

    async def complete_text(self, body: dict[str, Any], headers: Headers = None) -> OperationReply:
        out = self._outgoing(body)
        return await self._reply(
            lambda c: c.completions.with_raw_response.create(
                model=out["model"], prompt=None, **_sent(out, headers)
            )
        )

    def complete_text_stream(
        self, body: dict[str, Any], headers: Headers = None
    ) -> AsyncIterator[SSEEvent]:
        out = self._outgoing(body)
        out["stream_options"] = {**(out.get("stream_options") or {}), "include_usage": True}
        return self._events(
            lambda c: c.completions.with_streaming_response.create(
                model=out["model"], prompt=None, stream=True, **_sent(out, headers)
            )
        )

    async def moderate(self, body: dict[str, Any], headers: Headers = None) -> OperationReply:
        out = self._outgoing(body)
        return await self._reply(
            lambda c: c.moderations.with_raw_response.create(input=_NO_INPUT, **_sent(out, headers))
        )

    async def response_get(
        self, response_id: str, query: dict[str, str], headers: Headers = None
    ) -> OperationReply:
        return await self._reply(
            lambda c: c.responses.with_raw_response.retrieve(
                response_id, extra_query=query, extra_headers=headers
            )
        )

    async def response_delete(self, response_id: str, headers: Headers = None) -> OperationReply:
        return await self._reply(
            lambda c: c.responses.with_raw_response.delete(response_id, extra_headers=headers)
        )

    # --- plumbing ----------------------------------------------------------------------

    async def _reply(self, send: Callable[[Any], Awaitable[Any]]) -> OperationReply:
        try:
            raw = await send(self.client())
            content = raw.content
            data = json_loads(content) if content else {}
        except openai.OpenAIError as exc:
            raise map_openai_error(exc, self.name) from exc
        except ValueError as exc:
            raise LLMProviderError(
                "The provider answered with invalid JSON.", provider=self.name
            ) from exc
        data = data if isinstance(data, dict) else {"data": data}
        return OperationReply(data=data, content=content, model=str(data.get("model") or ""))

    def _events(self, open_stream: Callable[[Any], Any]) -> AsyncIterator[SSEEvent]:
        return sdk_stream(
            open_stream(self.client()),
            lambda response: sse_events(response.iter_bytes().__aiter__()),
            self.name,
        )


async def sse_events(blocks: AsyncIterator[bytes]) -> AsyncIterator[SSEEvent]:
    """Whole events (``event:`` and ``data:`` lines up to a blank line), parsed
    a network read at a time; ``[DONE]`` ends the stream and the body is drained
    so the connection goes back to the pool."""
    buffer = bytearray()
    async for block in blocks:
        buffer += block.replace(b"\r\n", b"\n")
        while (end := buffer.find(b"\n\n")) >= 0:
            raw = bytes(buffer[: end + 2])
            del buffer[: end + 2]
            event = parse_event(raw)
            if event is None:
                continue
            yield event
            if event.done:
                await drained(blocks)
                return
    if buffer.strip() and (event := parse_event(bytes(buffer) + b"\n\n")) is not None:
        yield event


def parse_event(raw: bytes) -> SSEEvent | None:
    """One event block; None for comments and keep-alives."""
    name, data = "", []
    for line in raw.split(b"\n"):
        if line.startswith(b"event:"):
            name = line[6:].strip().decode("utf-8", "replace")
        elif line.startswith(b"data:"):
            data.append(line[5:].strip())
    if not data:
        return None
    payload = b"\n".join(data)
    if payload == b"[DONE]":
        return SSEEvent(raw=raw, event=name, done=True)
    parsed = None
    with contextlib.suppress(ValueError):
        parsed = json_loads(payload)
    return SSEEvent(raw=raw, data=parsed if isinstance(parsed, dict) else None, event=name)
