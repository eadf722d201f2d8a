"""A real local HTTP fake of the OpenAI (and Azure OpenAI) chat API.

Why a real server instead of mocking the SDK or httpx: the gateway must be exercised through its
real network path (connection pools, timeouts, SSE parsing, retries, aborted connections), and the
benchmarks need an upstream that holds hundreds of concurrent slow streams without any internet.

The app is a plain ASGI callable (stdlib ``json`` only) served by uvicorn, either in-process from a
pytest fixture or as a separate process::

    python tests/fake_openai.py --port 9100 --latency-ms 200 --chunk-delay-ms 0

The module also holds the server plumbing (``FakeServer``) reused by ``tests/fake_anthropic.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import json
import logging
import re
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl

import uvicorn

try:
    from tests import fake_openai_operations as ops
except ModuleNotFoundError:  # script mode (python tests/fake_openai.py): tests/ is the path
    import fake_openai_operations as ops  # type: ignore[no-redef]

try:
    import pytest
except ImportError:  # pragma: no cover - script mode on a machine without pytest
    pytest = None  # type: ignore[assignment]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1", "o4-mini")
FILLER = (
    "This deterministic reply comes from the local fake {vendor} upstream, so tests can check "
    "streaming, usage accounting and token limits without any network access."
)
_MODEL_CREATED = 1_715_367_049


# --------------------------------------------------------------------------------------------
# Shared plumbing (also used by fake_anthropic.py)
# --------------------------------------------------------------------------------------------


@dataclass
class RecordedCall:
    """One request as the upstream saw it, so tests can assert what the gateway really sent."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float


@dataclass
class Request:
    """A fully read HTTP request handed to the route handlers."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes
    body: Any = None
    json_error: bool = False


@dataclass
class ErrorSpec:
    """An error the fake was told to return instead of an answer."""

    status: int
    options: dict[str, Any] = field(default_factory=dict)


class AbortStream(Exception):
    """Raised after the response started to drop the connection without finishing the body."""


class _HideAbortStream(logging.Filter):
    """Keep uvicorn from logging deliberate aborts (reset, shutdown) as application crashes."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, (AbortStream, asyncio.CancelledError))


def _install_abort_filter() -> None:
    uvicorn_error = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideAbortStream) for f in uvicorn_error.filters):
        uvicorn_error.addFilter(_HideAbortStream())


class ClientWatch:
    """Notices when the client hangs up, so slow sleeps and streams stop early."""

    def __init__(self, receive: Receive) -> None:
        self.gone = asyncio.Event()
        self._task = asyncio.ensure_future(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.gone.set()
                return

    async def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return False if the client disconnected meanwhile."""
        if seconds > 0 and not self.gone.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.gone.wait(), seconds)
        return not self.gone.is_set()

    def close(self) -> None:
        self._task.cancel()


async def read_request(scope: Scope, receive: Receive) -> Request:
    """Read the whole body and decode what every handler needs (headers, query, JSON)."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    query = dict(
        parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    )
    request = Request(scope["method"], scope["path"], query, headers, b"".join(chunks))
    if request.raw:
        try:
            request.body = json.loads(request.raw)
        except ValueError:
            request.json_error = True
    return request


def _encode_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in headers.items()]


async def send_json(
    send: Send, status: int, payload: Any, headers: dict[str, str] | None = None
) -> None:
    """Send a complete JSON response."""
    body = json.dumps(payload).encode()
    all_headers = {"content-type": "application/json", "content-length": str(len(body))}
    all_headers.update(headers or {})
    await send(
        {"type": "http.response.start", "status": status, "headers": _encode_headers(all_headers)}
    )
    await send({"type": "http.response.body", "body": body})


async def start_sse(send: Send, headers: dict[str, str] | None = None) -> None:
    """Start a chunked ``text/event-stream`` response; events follow via ``send_event``."""
    all_headers = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
    all_headers.update(headers or {})
    await send(
        {"type": "http.response.start", "status": 200, "headers": _encode_headers(all_headers)}
    )


async def send_event(send: Send, data: Any, event: str | None = None) -> None:
    """Send one SSE event immediately (``more_body`` keeps the chunked response open)."""
    payload = data if isinstance(data, str) else json.dumps(data)
    prefix = f"event: {event}\n" if event else ""
    await send(
        {
            "type": "http.response.body",
            "body": f"{prefix}data: {payload}\n\n".encode(),
            "more_body": True,
        }
    )


async def end_body(send: Send) -> None:
    await send({"type": "http.response.body", "body": b""})


def count_words(text: str) -> int:
    """The fakes' token rule: one token per whitespace-separated word (deterministic, checkable)."""
    return len(text.split())


def split_words(text: str) -> list[str]:
    """Split into one piece per word, keeping whitespace so ``"".join(pieces) == text``."""
    pieces = re.findall(r"\S+\s*", text)
    leading = text[: len(text) - len(text.lstrip())]
    if not pieces:
        return [text] if text else []
    pieces[0] = leading + pieces[0]
    return pieces


def truncate_words(text: str, limit: int | None) -> tuple[str, bool]:
    """Cut ``text`` to ``limit`` words; return the text and whether it was cut."""
    if limit is None or limit < 0 or count_words(text) <= limit:
        return text, False
    return "".join(split_words(text)[:limit]).rstrip(), True


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, str | None]:
    """Cut before the earliest stop sequence; return the text and the sequence that matched."""
    best: tuple[int, str] | None = None
    for stop in stops:
        if stop and (pos := text.find(stop)) >= 0 and (best is None or pos < best[0]):
            best = (pos, stop)
    return (text, None) if best is None else (text[: best[0]], best[1])


def default_reply(question: str, vendor: str) -> str:
    """Deterministic ≥ 20-word answer that echoes the start of the question."""
    head = " ".join(question.split()[:8]) or "(empty)"
    return f"Fake answer to: {head}. " + FILLER.format(vendor=vendor)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the script-mode flags shared by both fakes."""
    parser = argparse.ArgumentParser(description="Run a fake LLM upstream until killed.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0)
    return parser.parse_args(argv)


class FakeServer:
    """Serves ``self`` (an ASGI app) with uvicorn on its own thread and event loop.

    Why a thread rather than a subprocess: tests flip switches (``reply``, ``fail_next``...) and
    read ``calls`` directly on the object, which only works in the same process.
    """

    vendor = "Fake"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.calls: list[RecordedCall] = []
        self._lock = threading.Lock()
        self._failures: collections.deque[ErrorSpec] = collections.deque()
        self._ids = itertools.count(1)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._set_defaults()

    # -- switches -----------------------------------------------------------------------------

    def _set_defaults(self) -> None:
        """Put every switch back to its default; subclasses extend this."""
        self.reply: str | None = None
        self.latency: float = 0.0
        self.chunk_delay: float = 0.0
        self.hang: float = 0.0
        self.fail_always: tuple[Any, ...] | None = None
        self.known_models: set[str] | None = None
        self.expected_api_key: str | None = None
        self.reset_stream_after: int | None = None

    def reset(self) -> None:
        """Forget recorded calls and queued failures and restore default switches."""
        with self._lock:
            self.calls.clear()
            self._failures.clear()
        self._set_defaults()

    def fail_next(self, n: int, status: int = 500, **options: Any) -> None:
        """Queue ``n`` failures with ``status``; repeated calls queue up in order."""
        with self._lock:
            self._failures.extend(ErrorSpec(status, dict(options)) for _ in range(n))

    def fail_always_with(self, status: int, **options: Any) -> None:
        """Make every request fail until ``reset()`` (same options as ``fail_next``)."""
        self.fail_always = (status, dict(options))

    def _take_failure(self) -> ErrorSpec | None:
        with self._lock:
            if self._failures:
                return self._failures.popleft()
        if self.fail_always:
            status, *rest = self.fail_always
            return ErrorSpec(int(status), dict(rest[0]) if rest else {})
        return None

    def _next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        """Bind a socket (port 0 = any free port), start uvicorn and wait until it serves."""
        if self._thread is not None:
            return self
        _install_abort_filter()
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only when
        # the proto says TCP; with 0, every keep-alive response waited ~40 ms for
        # a delayed ACK (Nagle), which hid the real latency in benchmarks.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self,
            log_level="warning",
            log_config=None,
            lifespan="off",
            access_log=False,
            backlog=4096,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._socket = sock
        self._thread = threading.Thread(
            target=asyncio.run,
            args=(self._serve(self._server, sock),),
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{type(self).__name__} failed to start on {self.url}")
            time.sleep(0.005)
        return self

    async def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        await server.serve(sockets=[sock])

    def stop(self) -> None:
        """Stop serving; in-flight requests see their connection dropped instead of waiting."""
        if self._server is None or self._thread is None:
            return
        if self._loop is not None and self._thread.is_alive():
            dropping = asyncio.run_coroutine_threadsafe(self._drop_connections(), self._loop)
            with contextlib.suppress(Exception):
                dropping.result(timeout=5)
        self._server.should_exit = True
        self._server.force_exit = True
        self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = self._loop = None

    async def _drop_connections(self) -> None:
        """Close every open connection so hung or streaming handlers end via ``ClientWatch``."""
        assert self._server is not None
        for connection in list(self._server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.close()
        await asyncio.sleep(0.01)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = await read_request(scope, receive)
        self._record(request)
        watch = ClientWatch(receive)
        try:
            await self.handle(request, watch, send)
        finally:
            watch.close()

    def _record(self, request: Request) -> None:
        call = RecordedCall(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            body=request.body,
            at=time.monotonic(),
        )
        with self._lock:
            self.calls.append(call)

    async def handle(self, request: Request, watch: ClientWatch, send: Send) -> None:
        raise NotImplementedError

    async def _stream_pause(self, watch: ClientWatch) -> bool:
        """Wait ``chunk_delay`` between events (or just yield); False once the client left."""
        if self.chunk_delay > 0:
            return await watch.sleep(self.chunk_delay)
        await asyncio.sleep(0)
        return not watch.gone.is_set()

    # -- pytest and script mode ---------------------------------------------------------------

    @classmethod
    def pytest_fixture(cls, name: str) -> Any:
        """A pytest fixture called ``name``: a started instance on a free port, stopped after
        the test. None in script mode on a machine without pytest."""
        if pytest is None:
            return None

        def serving() -> Iterator[Self]:
            with cls() as fake:
                yield fake

        serving.__doc__ = f"A started ``{cls.__name__}`` on a free port, stopped after the test."
        return pytest.fixture(name=name)(serving)

    @classmethod
    def main(cls, argv: Sequence[str] | None = None) -> None:
        """Serve until SIGTERM/SIGINT; print ``ready <url>`` once connections are accepted."""
        args = parse_args(argv)
        logging.basicConfig(level=logging.WARNING)
        fake = cls(host=args.host, port=args.port)
        fake.latency = args.latency_ms / 1000
        fake.chunk_delay = args.chunk_delay_ms / 1000
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        with fake:
            print(f"ready {fake.url}", flush=True)
            while not stop.wait(0.5):
                pass


# --------------------------------------------------------------------------------------------
# OpenAI
# --------------------------------------------------------------------------------------------

_AZURE_CHAT = re.compile(r"/openai/deployments/(?P<deployment>[^/]+)/chat/completions")
# The other operations: OpenAI's paths, and Azure's deployment (or /openai/responses) paths.
_OPERATION = re.compile(
    r"(?:/v1|/openai(?:/deployments/(?P<deployment>[^/]+))?)"
    r"/(?P<op>embeddings|responses|completions|moderations)(?:/(?P<item>[^/]+))?"
)

_OPENAI_ERROR_DEFAULTS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        (
            "Incorrect API key provided. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
        ),
    ),
    403: ("invalid_request_error", None, "You are not allowed to sample from this model."),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model `{model}` does not exist or you do not have access to it.",
    ),
    429: (
        "requests",
        "rate_limit_exceeded",
        (
            "Rate limit reached for {model} in organization org-fake on requests per min (RPM): "
            "Limit 3, Used 3, Requested 1. Please try again in 20s."
        ),
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}
_INSUFFICIENT_QUOTA = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)


def openai_error_body(
    status: int,
    *,
    model: str = "",
    code: str | None = None,
    type: str | None = None,
    message: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    """Build ``{"error": {...}}`` with the type/code/message OpenAI uses for ``status``."""
    fallback = ("server_error", None, "Upstream error.") if status >= 500 else None
    default_type, default_code, default_message = _OPENAI_ERROR_DEFAULTS.get(
        status, fallback or ("invalid_request_error", None, "Invalid request.")
    )
    if status == 429 and code == "insufficient_quota":
        default_type, default_message = "insufficient_quota", _INSUFFICIENT_QUOTA
    return {
        "error": {
            "message": message or default_message.format(model=model or "the model"),
            "type": type or default_type,
            "param": param,
            "code": code or default_code,
        }
    }


def _content_text(content: Any) -> str:
    """Text of a message ``content``: a string or a list of ``{"type": "text"}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") in ("text", "input_text")
        )
    return ""


def openai_prompt_tokens(messages: list[Any]) -> int:
    """Words across all message contents plus 3 per message (the fake's token rule)."""
    return sum(
        count_words(_content_text(m.get("content") if isinstance(m, dict) else None)) + 3
        for m in messages
    )


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def _example_for_schema(schema: Any, text: str, depth: int = 0) -> Any:
    """A small value that satisfies a JSON schema, so structured-output validation passes."""
    if not isinstance(schema, dict) or depth > 5:
        return text
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if schema.get("enum"):
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {"answer": {"type": "string"}}
        return {k: _example_for_schema(v, text, depth + 1) for k, v in props.items()}
    if kind == "array":
        return [_example_for_schema(schema.get("items"), text, depth + 1)]
    return {"integer": 1, "number": 1.5, "boolean": True, "null": None}.get(str(kind), text)


@dataclass
class ChatPlan:
    """What a chat request will be answered with, decided before any sleeping."""

    model: str
    prompt_tokens: int
    content: str | None
    finish_reason: str
    completion_tokens: int
    tool_call: dict[str, Any] | None = None
    include_usage: bool = False


class FakeOpenAI(FakeServer):
    """Fake OpenAI / Azure OpenAI upstream; see the module docstring for the why.

    Switches (plain attributes, settable any time): ``reply``, ``latency``, ``chunk_delay``,
    ``hang``, ``fail_always``, ``known_models``, ``expected_api_key``, ``cached_tokens``,
    ``reset_stream_after``, ``tool_call``, ``deployments`` (Azure deployment -> model name).
    """

    vendor = "OpenAI"

    in_flight = 0  # requests being answered now, and the most at once
    peak_in_flight = 0

    def _set_defaults(self) -> None:
        super()._set_defaults()
        self.cached_tokens: int = 0
        self.tool_call: dict[str, Any] | None = None
        self.deployments: dict[str, str] = {}
        self.responses = ops.ResponsesState()

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def chat_calls(self) -> list[RecordedCall]:
        with self._lock:
            return [c for c in self.calls if c.path.endswith("/chat/completions")]

    def fail_next(
        self,
        n: int,
        status: int = 500,
        *,
        retry_after: str | None = None,
        code: str | None = None,
        type: str | None = None,
        message: str | None = None,
        param: str | None = None,
    ) -> None:
        """Answer the next ``n`` requests with this OpenAI error (queued in order)."""
        super().fail_next(
            n, status, retry_after=retry_after, code=code, type=type, message=message, param=param
        )

    def fail_always_with(
        self,
        status: int,
        *,
        retry_after: str | None = None,
        code: str | None = None,
        type: str | None = None,
        message: str | None = None,
    ) -> None:
        """Fail every chat request with this error until ``reset()``."""
        super().fail_always_with(
            status, retry_after=retry_after, code=code, type=type, message=message
        )

    # -- routing ------------------------------------------------------------------------------

    async def handle(self, request: Request, watch: ClientWatch, send: Send) -> None:
        headers = {"x-request-id": f"req_fake_{self._next_id()}"}
        if request.method == "GET" and request.path in ("/v1/models", "/openai/models"):
            await send_json(send, 200, self._models_payload(), headers)
            return
        if request.method == "POST" and request.path == "/v1/chat/completions":
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                await self._chat(request, watch, send, headers, deployment=None)
            finally:
                self.in_flight -= 1
            return
        if request.method == "GET" and request.path == "/fake/stats":
            # For benchmarks: how many calls a gateway held open at once.
            stats = {"in_flight": self.in_flight, "peak_in_flight": self.peak_in_flight}
            if request.query.get("reset"):
                self.peak_in_flight = self.in_flight
            await send_json(send, 200, stats, headers)
            return
        match = _AZURE_CHAT.fullmatch(request.path)
        if request.method == "POST" and match:
            await self._chat(request, watch, send, headers, deployment=match["deployment"])
            return
        if match := _OPERATION.fullmatch(request.path):
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                await self._operation(request, watch, send, headers, match)
            finally:
                self.in_flight -= 1
            return
        message = f"Invalid URL ({request.method} {request.path})"
        await send_json(send, 404, openai_error_body(404, message=message, code=None), headers)

    def _models_payload(self) -> dict[str, Any]:
        ids = sorted(self.known_models) if self.known_models is not None else DEFAULT_MODELS
        data = [
            {"id": m, "object": "model", "created": _MODEL_CREATED, "owned_by": "openai"}
            for m in ids
        ]
        return {"object": "list", "data": data}

    # -- chat completions ---------------------------------------------------------------------

    def _check_request(
        self, request: Request, deployment: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """Auth, validation and injected failures, in the order OpenAI applies them."""
        if deployment is not None and "api-version" not in request.query:
            return 404, {"error": {"code": "404", "message": "Resource not found"}}, {}
        if self.expected_api_key is not None and self._api_key(request, deployment) != (
            self.expected_api_key
        ):
            return 401, openai_error_body(401), {}
        body = request.body
        if request.json_error or not isinstance(body, dict):
            message = (
                "We could not parse the JSON body of your request. (HINT: This likely means you "
                "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
                "but what was sent was not valid JSON.)"
            )
            return 400, openai_error_body(400, message=message), {}
        if "messages" not in body:
            message = "Missing required parameter: 'messages'."
            error = openai_error_body(
                400, message=message, param="messages", code="missing_required_parameter"
            )
            return 400, error, {}
        if not isinstance(body["messages"], list) or not body["messages"]:
            message = "Invalid 'messages': empty array. Expected an array with minimum length 1."
            return 400, openai_error_body(400, message=message, param="messages"), {}
        if deployment is None and not body.get("model"):
            return 400, openai_error_body(400, message="you must provide a model parameter"), {}
        model = self._model_name(body, deployment)
        failure = self._take_failure()
        if failure is not None:
            options = dict(failure.options)
            retry_after = options.pop("retry_after", None)
            extra = {"retry-after": str(retry_after)} if retry_after is not None else {}
            return failure.status, openai_error_body(failure.status, model=model, **options), extra
        if self.known_models is not None and (deployment or model) not in self.known_models:
            if deployment is not None:
                message = (
                    "The API deployment for this resource does not exist. If you created the "
                    "deployment within the last 5 minutes, please wait a moment and try again."
                )
                return 404, {"error": {"code": "DeploymentNotFound", "message": message}}, {}
            return 404, openai_error_body(404, model=model), {}
        return None

    @staticmethod
    def _api_key(request: Request, deployment: str | None) -> str | None:
        if deployment is not None and "api-key" in request.headers:
            return request.headers["api-key"]
        auth = request.headers.get("authorization", "")
        return auth[len("Bearer ") :] if auth.startswith("Bearer ") else None

    def _model_name(self, body: dict[str, Any], deployment: str | None) -> str:
        if deployment is not None:
            return self.deployments.get(deployment, deployment)
        return str(body.get("model"))

    async def _chat(
        self,
        request: Request,
        watch: ClientWatch,
        send: Send,
        headers: dict[str, str],
        deployment: str | None,
    ) -> None:
        problem = self._check_request(request, deployment)
        plan = None if problem else self._plan(request.body, deployment)
        if not await watch.sleep(self.hang + self.latency):
            return
        if problem is not None:
            status, payload, extra = problem
            await send_json(send, status, payload, {**headers, **extra})
            return
        assert plan is not None
        if request.body.get("stream"):
            await self._stream(plan, watch, send, headers)
        else:
            await send_json(send, 200, self._completion(plan), headers)

    def _plan(self, body: dict[str, Any], deployment: str | None) -> ChatPlan:
        """Decide the answer text, finish reason and usage from the request and switches."""
        messages = body["messages"]
        model = self._model_name(body, deployment)
        prompt_tokens = openai_prompt_tokens(messages)
        stream_options = body.get("stream_options") or {}
        include_usage = bool(stream_options.get("include_usage"))
        if self.tool_call is not None and body.get("tools"):
            call = self._tool_call_for(body["tools"])
            arguments = call["function"]["arguments"]
            tokens = count_words(arguments) + 1
            return ChatPlan(model, prompt_tokens, None, "tool_calls", tokens, call, include_usage)
        text = self.reply if self.reply is not None else self._default_text(body, messages)
        stops = body.get("stop")
        text, _ = cut_at_stop(text, [stops] if isinstance(stops, str) else stops or [])
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        text, cut = truncate_words(text, limit if isinstance(limit, int) else None)
        finish = "length" if cut else "stop"
        return ChatPlan(model, prompt_tokens, text, finish, count_words(text), None, include_usage)

    def _default_text(self, body: dict[str, Any], messages: list[Any]) -> str:
        text = default_reply(_last_user_text(messages), self.vendor)
        response_format = body.get("response_format") or {}
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind == "json_object":
            return json.dumps({"answer": text})
        if kind == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema")
            value = _example_for_schema(schema or {"type": "object"}, text)
            return json.dumps(value if isinstance(value, dict) else {"answer": value})
        return text

    def _tool_call_for(self, tools: list[Any]) -> dict[str, Any]:
        assert self.tool_call is not None
        first = tools[0].get("function", {}) if tools and isinstance(tools[0], dict) else {}
        arguments = self.tool_call.get("arguments", "{}")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        return {
            "id": f"call_fake_{self._next_id()}",
            "type": "function",
            "function": {
                "name": self.tool_call.get("name") or first.get("name", "tool"),
                "arguments": arguments,
            },
        }

    def _usage(self, plan: ChatPlan) -> dict[str, Any]:
        return {
            "prompt_tokens": plan.prompt_tokens,
            "completion_tokens": plan.completion_tokens,
            "total_tokens": plan.prompt_tokens + plan.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def _envelope(self, plan: ChatPlan, completion_id: str, kind: str) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": kind,
            "created": int(time.time()),
            "model": plan.model,
            "system_fingerprint": "fp_fake",
            "service_tier": "default",
        }

    def _completion(self, plan: ChatPlan) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": plan.content,
            "refusal": None,
            "annotations": [],
        }
        if plan.tool_call is not None:
            message["tool_calls"] = [plan.tool_call]
        choice = {"index": 0, "message": message, "logprobs": None}
        choice["finish_reason"] = plan.finish_reason
        payload = self._envelope(plan, f"chatcmpl-fake-{self._next_id()}", "chat.completion")
        payload["choices"] = [choice]
        payload["usage"] = self._usage(plan)
        return payload

    def _deltas(self, plan: ChatPlan) -> Iterator[dict[str, Any]]:
        """Content deltas after the role chunk: one word (or argument piece) each."""
        if plan.tool_call is None:
            for piece in split_words(plan.content or ""):
                yield {"content": piece}
            return
        for piece in split_words(plan.tool_call["function"]["arguments"]):
            yield {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}

    def _first_delta(self, plan: ChatPlan) -> dict[str, Any]:
        if plan.tool_call is None:
            return {"role": "assistant", "content": "", "refusal": None}
        call = plan.tool_call
        opening = {
            "index": 0,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        return {"role": "assistant", "content": None, "tool_calls": [opening], "refusal": None}

    async def _stream(
        self, plan: ChatPlan, watch: ClientWatch, send: Send, headers: dict[str, str]
    ) -> None:
        """Send real SSE chunks one by one, honouring ``chunk_delay`` and ``reset_stream_after``."""
        envelope = self._envelope(plan, f"chatcmpl-fake-{self._next_id()}", "chat.completion.chunk")

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            body = {**envelope, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            body["choices"][0]["logprobs"] = None
            if plan.include_usage:
                body["usage"] = None
            return body

        await start_sse(send, headers)
        await send_event(send, chunk(self._first_delta(plan)))
        reset_after = self.reset_stream_after
        for sent, delta in enumerate(self._deltas(plan)):
            if reset_after is not None and sent >= reset_after:
                raise AbortStream("reset_stream_after")
            if not await self._stream_pause(watch):
                return
            await send_event(send, chunk(delta))
        if reset_after == 0:  # no deltas at all, but a reset was still asked for
            raise AbortStream("reset_stream_after")
        await send_event(send, chunk({}, plan.finish_reason))
        if plan.include_usage:
            await send_event(send, {**envelope, "choices": [], "usage": self._usage(plan)})
        await send_event(send, "[DONE]")
        await end_body(send)

    # -- embeddings, responses, completions, moderations ------------------------------------

    def operation_calls(self, op: str) -> list[RecordedCall]:
        with self._lock:
            return [c for c in self.calls if f"/{op}" in c.path]

    def _operation_refusal(
        self, request: Request, deployment: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """Auth, JSON and injected failures, as for chat."""
        if self.expected_api_key is not None and self._api_key(request, deployment) != (
            self.expected_api_key
        ):
            return 401, openai_error_body(401), {}
        if request.method == "POST" and (request.json_error or not isinstance(request.body, dict)):
            return 400, openai_error_body(400, message="We could not parse the JSON body."), {}
        failure = self._take_failure()
        if failure is None:
            return None
        options = dict(failure.options)
        retry_after = options.pop("retry_after", None)
        extra = {"retry-after": str(retry_after)} if retry_after is not None else {}
        return failure.status, openai_error_body(failure.status, **options), extra

    async def _operation(
        self, request: Request, watch: ClientWatch, send: Send, headers: dict[str, str], match: Any
    ) -> None:
        refusal = self._operation_refusal(request, match["deployment"])
        if not await watch.sleep(self.hang + self.latency):
            return
        if refusal is not None:
            status, payload, extra = refusal
            await send_json(send, status, payload, {**headers, **extra})
            return
        try:
            await self._operation_answer(request, watch, send, headers, match)
        except ops.Refusal as refused:
            await send_json(send, refused.status, refused.body(), headers)

    async def _operation_answer(
        self, request: Request, watch: ClientWatch, send: Send, headers: dict[str, str], match: Any
    ) -> None:
        op, item, body = match["op"], match["item"], request.body or {}
        model = self.deployments.get(match["deployment"] or "", match["deployment"])
        model = model or str(body.get("model") or "")
        if op == "responses" and item is not None:
            await self._stored_response(request, send, headers, item)
        elif op == "embeddings":
            await send_json(send, 200, ops.embeddings(body, model), headers)
        elif op == "moderations":
            await send_json(send, 200, ops.moderation(body), headers)
        elif op == "completions" and body.get("stream"):
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            events = ops.completion_events(ops.completion(body, model), include)
            await self._send_events(watch, send, headers, [("", e) for e in events], done=True)
        elif op == "completions":
            await send_json(send, 200, ops.completion(body, model), headers)
        elif body.get("stream"):
            events = self.responses.events(self.responses.response(body, model))
            await self._send_events(watch, send, headers, events, done=False)
        else:
            await send_json(send, 200, self.responses.response(body, model), headers)

    async def _stored_response(
        self, request: Request, send: Send, headers: dict[str, str], response_id: str
    ) -> None:
        stored = self.responses.stored.get(response_id)
        if stored is None:
            message = f"Response with id '{response_id}' not found."
            await send_json(send, 404, openai_error_body(404, message=message), headers)
        elif request.method == "DELETE":
            del self.responses.stored[response_id]
            deleted = {"id": response_id, "object": "response.deleted", "deleted": True}
            await send_json(send, 200, deleted, headers)
        else:
            await send_json(send, 200, stored, headers)

    async def _send_events(
        self,
        watch: ClientWatch,
        send: Send,
        headers: dict[str, str],
        events: list[tuple[str, dict[str, Any]]],
        *,
        done: bool,
    ) -> None:
        await start_sse(send, headers)
        for sent, (name, data) in enumerate(events):
            if self.reset_stream_after is not None and sent >= self.reset_stream_after:
                raise AbortStream("reset_stream_after")
            if not await self._stream_pause(watch):
                return
            await send_event(send, data, event=name or None)
        if done:
            await send_event(send, "[DONE]")
        await end_body(send)


fake_openai = FakeOpenAI.pytest_fixture("fake_openai")


if __name__ == "__main__":
    FakeOpenAI.main()
