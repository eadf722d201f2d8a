"""A small keep-alive HTTP/1.1 load generator on raw asyncio streams.

General-purpose async HTTP clients spend more CPU per request than the gateway
under test does, which would measure the client. This one does only what the
benchmark needs: POST a JSON body, read a Content-Length or chunked answer,
and note the time the first SSE ``data:`` line with content arrives.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# A delta with non-empty text, whatever the JSON spacing of the server.
_FIRST_TEXT = re.compile(rb'"content":\s*"[^"]')


@dataclass
class Sample:
    ok: bool
    latency: float
    ttft: float | None = None
    status: int = 0


@dataclass
class Result:
    samples: list[Sample] = field(default_factory=list)
    wall: float = 0.0


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def ensure(self) -> None:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    async def post(self, path: str, body: bytes, headers: dict[str, str], stream: bool) -> Sample:
        await self.ensure()
        started = time.perf_counter()
        head = [
            f"POST {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
        ]
        head += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status, response_headers = await self._read_head()
        ttft = None
        if response_headers.get("transfer-encoding") == "chunked":
            async for piece in self._chunks():
                if ttft is None and _FIRST_TEXT.search(piece):
                    ttft = time.perf_counter() - started
        else:
            await self.reader.readexactly(int(response_headers.get("content-length", 0)))
        if response_headers.get("connection") == "close":
            await self.close()
        latency = time.perf_counter() - started
        return Sample(
            ok=status == 200, latency=latency, ttft=ttft if stream else None, status=status
        )

    async def _read_head(self) -> tuple[int, dict[str, str]]:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip().lower()
        return status, headers

    async def _chunks(self):
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return
            data = await self.reader.readexactly(size + 2)
            yield data[:-2]


async def run_load(
    url: str, *, body: dict, headers: dict[str, str], total: int, concurrency: int, stream: bool
) -> Result:
    parts = urlsplit(url)
    payload = json.dumps(body).encode()
    queue = iter(range(total))
    result = Result()

    async def worker() -> None:
        conn = Connection(parts.hostname, parts.port)
        try:
            for _ in queue:
                try:
                    sample = await conn.post(parts.path, payload, headers, stream)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    await conn.close()
                    sample = Sample(ok=False, latency=0.0)
                result.samples.append(sample)
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.wall = time.perf_counter() - started
    return result


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]
