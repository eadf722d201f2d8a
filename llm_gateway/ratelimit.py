"""Per-key request and token limits over fixed one-minute windows.

With ``REDIS_URL`` the counters live in Redis (shared by every process and
machine, via redis-py's asyncio client: no thread hop on the hot path);
without it they live in this process, which is right for the single-process
default setup. A fixed window is coarser than a sliding one but needs one
INCR per request, and a minute boundary burst is bounded by 2× the limit.

Tokens are held at admission, not only counted after the answer: a request
adds its worst case (estimated prompt plus ``max_tokens``) to the window's
token counter in the same round trip that counts it, and is admitted only if
the tokens already there were under the TPM. When it finishes, the hold is
replaced by the real usage (``rate_limit_spend_tokens``) or given back
(``rate_limit_hold_release``, at the end of every request). So however many
processes and concurrent requests a key has, the tokens admitted pass the TPM
by at most one request's worth, as the requests admitted pass the RPM by none.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
import weakref
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings

from common.outage import OutageLog
from common.redis_client import is_no_script_error, redis_from_url
from common.tokens import estimate_prompt_tokens

WINDOW = 60
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LimitDecision:
    allowed: bool
    limit_name: str = ""
    retry_after: int = 0
    # The counters as the admission read them (for x-ratelimit-* headers): no
    # extra round trip. ``requests_used`` includes this request.
    rpm: int | None = None
    requests_used: int = 0
    tpm: int | None = None
    tokens_used: int = 0
    reset_after: int = 0  # seconds until the window's counters start again


def _window(now: float) -> tuple[int, int]:
    start = int(now // WINDOW) * WINDOW
    return start, max(1, start + WINDOW - int(now))


class _LocalCounters:
    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    async def incr(self, key: str, window: int, amount: int) -> int:
        with self._lock:
            if len(self._counts) > 100_000:  # drop old windows
                self._counts = {k: v for k, v in self._counts.items() if k[1] >= window}
            value = self._counts.get((key, window), 0) + amount
            self._counts[(key, window)] = value
            return value

    async def get(self, key: str, window: int) -> int:
        return self._counts.get((key, window), 0)

    async def admit(
        self, requests: str | None, tokens: str | None, window: int, held: int
    ) -> tuple[int, int]:
        used = await self.incr(requests, window, 1) if requests else 0
        total = await self.incr(tokens, window, held) if tokens else 0
        return used, total

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


class _RoundTrips:
    """Counter commands of one event loop, sent together.

    redis-py spends ~15 µs of CPU packing and parsing each command and ~150 µs
    on each round trip (the pool, the socket, the wake-up), so at 200 concurrent
    calls the RPM/TPM counters were a fifth of the gateway's CPU. Commands
    submitted while the loop runs other work go in one pipeline when it gets
    back here: a lone call pays what it paid before, a burst pays one round
    trip (measured: 200 → 47 µs per admission in batches of 20).
    """

    def __init__(self, client) -> None:
        self._client = client
        self._pending: list[tuple[list[tuple], asyncio.Future]] = []
        self._flushing: set[asyncio.Task] = set()  # referenced until done
        self.sent = 0  # round trips so far (tests, diagnostics)

    def run(self, commands: list[tuple]) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((commands, future))
        if len(self._pending) == 1:
            task = asyncio.ensure_future(self._flush())
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)
        return future

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        try:
            try:
                results = await self._execute(batch)
            except Exception as exc:
                if not is_no_script_error(exc):
                    raise
                await self._client.script_load(_COUNT_SCRIPT)
                results = await self._execute(batch)
        except BaseException as exc:  # every caller sees it ("limiter unavailable")
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        start = 0
        for commands, future in batch:
            if not future.done():  # its caller may have been cancelled
                future.set_result(results[start : start + len(commands)])
            start += len(commands)

    async def _execute(self, batch: list[tuple[list[tuple], asyncio.Future]]) -> list:
        self.sent += 1
        pipe = self._client.pipeline(transaction=False)
        for commands, _ in batch:
            for command in commands:
                pipe.execute_command(*command)
        return await pipe.execute()


# A counter's INCRBY and its expiry (set once, by the window's first count) as
# one command: redis-py's packing and parsing per command was most of the
# limiter's CPU. Being one script keeps the expiry with the count (no counter
# is ever left without one); an admission sends one per counter, in one round trip.
_COUNT_SCRIPT = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if value == tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return {value}
"""
_COUNT_SHA = hashlib.sha1(_COUNT_SCRIPT.encode()).hexdigest()


def _count_command(name: str, amount: int) -> tuple:
    return ("EVALSHA", _COUNT_SHA, 1, name, amount, WINDOW * 2)


class _RedisCounters:
    def __init__(self, url: str) -> None:
        self._url = url
        self._batches: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._factory = redis_from_url

    def _round_trips(self) -> _RoundTrips:  # per event loop: a client's pool is bound to it
        loop = asyncio.get_running_loop()
        batches = self._batches.get(loop)
        if batches is None:
            client = self._factory(self._url, socket_timeout=0.5, socket_connect_timeout=0.5)
            batches = self._batches[loop] = _RoundTrips(client)
        return batches

    async def incr(self, key: str, window: int, amount: int) -> int:
        ((value,),) = await self._round_trips().run([_count_command(f"rl:{key}:{window}", amount)])
        return int(value)

    async def get(self, key: str, window: int) -> int:
        (value,) = await self._round_trips().run([("GET", f"rl:{key}:{window}")])
        return int(value or 0)

    async def admit(
        self, requests: str | None, tokens: str | None, window: int, held: int
    ) -> tuple[int, int]:
        """Count one request on ``requests`` and hold ``held`` on ``tokens`` (either
        may be None), in one round trip; the counters' values after it."""
        commands = [
            _count_command(f"rl:{key}:{window}", amount)
            for key, amount in ((requests, 1), (tokens, held))
            if key
        ]
        results = iter(await self._round_trips().run(commands))
        used = int(next(results)[0]) if requests else 0
        total = int(next(results)[0]) if tokens else 0
        return used, total

    def clear(self) -> None:
        self._batches = weakref.WeakKeyDictionary()


_backend: _LocalCounters | _RedisCounters | None = None


def backend() -> _LocalCounters | _RedisCounters:
    global _backend
    if _backend is None:
        _backend = _RedisCounters(settings.REDIS_URL) if settings.REDIS_URL else _LocalCounters()
    return _backend


def reset_backend() -> None:
    global _backend
    if _backend is not None:
        _backend.clear()
    _backend = None


@dataclass
class _Hold:
    """The tokens a request holds in its window until it spends or releases them.
    Mutable and shared by reference: a stream relayed in another task (a copy of
    the context) settles the same hold."""

    key_id: int
    window: int
    tokens: int
    done: bool = False


_hold: ContextVar[_Hold | None] = ContextVar("rate_limit_hold", default=None)


def rate_limit_estimate(request: object, *, completion_default: int | None = None) -> int:
    """A request's worst-case tokens: its prompt (estimated) plus what it may
    generate (``max_tokens``, else ``completion_default``, else
    LLM_MAX_TOKENS, the gateway's own default for a chat)."""
    messages = getattr(request, "to_messages", list)()
    completion = getattr(request, "max_tokens", None)
    if completion is None:
        completion = settings.LLM_MAX_TOKENS if completion_default is None else completion_default
    return estimate_prompt_tokens(messages) + int(completion)


async def rate_limit_admit(
    *, key_id: int, rpm: int | None, tpm: int | None, tokens: int = 0
) -> LimitDecision:
    """Count this request against the key's RPM and hold ``tokens`` against its
    TPM; refuse (holding nothing) if either is spent.

    If the counter store is unreachable the request is let through (and logged
    once): a Redis outage must not take every agent down with it.
    """
    if not rpm and not tpm:
        return LimitDecision(True)
    try:
        decision = await _admit(key_id, rpm, tpm, max(0, tokens) if tpm else 0)
    except Exception as error:  # noqa: BLE001 - any store failure: admit, log once
        _outage.failed(error)
        return LimitDecision(True)
    _outage.recovered()
    return decision


async def _admit(key_id: int, rpm: int | None, tpm: int | None, held: int) -> LimitDecision:
    window, retry_after = _window(time.time())
    counters = backend()
    requests, tokens_key = f"{key_id}:req" if rpm else None, f"{key_id}:tok" if tpm else None
    used, total = await counters.admit(requests, tokens_key, window, held)
    tokens = total - held  # what the window held before this request
    seen = {"rpm": rpm, "requests_used": used, "tpm": tpm, "tokens_used": tokens}
    refused = ""
    if rpm and used > rpm:
        refused = "requests"
    elif tpm and tokens >= tpm:
        refused = "tokens"
    if refused:
        if tokens_key and held:
            await counters.incr(tokens_key, window, -held)  # a refusal holds nothing
        return LimitDecision(False, refused, retry_after, **seen, reset_after=retry_after)
    if held:
        _hold.set(_Hold(key_id, window, held))
    return LimitDecision(True, **seen, reset_after=retry_after)


async def rate_limit_spend_tokens(*, key_id: int, tpm: int | None, tokens: int) -> None:
    """Count a finished call's tokens in the key's current window, in place of
    what its admission held."""
    if not tpm:
        return
    window, _ = _window(time.time())
    hold = _hold.get()
    held = 0
    if hold is not None and not hold.done and hold.key_id == key_id:
        hold.done = True
        if hold.window == window:
            held = hold.tokens
        else:  # admitted in the previous minute: give that window its hold back
            await _count(key_id, hold.window, -hold.tokens)
    if tokens - held:
        await _count(key_id, window, tokens - held)


def rate_limit_hold() -> _Hold | None:
    """This request's hold (to release it from code that runs in another context)."""
    return _hold.get()


async def rate_limit_hold_release(hold: _Hold | None = None) -> None:
    """At the end of every API request: give back tokens held by a request that
    spent none (refused later, failed upstream, answered from the cache)."""
    if hold is None:
        hold = _hold.get()
        _hold.set(None)
    if hold is not None and not hold.done:
        hold.done = True
        await _count(hold.key_id, hold.window, -hold.tokens)


async def _count(key_id: int, window: int, amount: int) -> None:
    try:
        await backend().incr(f"{key_id}:tok", window, amount)
    except Exception as error:  # noqa: BLE001 - any store failure: admit, log once
        _outage.failed(error)


_outage = OutageLog(logger, "rate limiter unavailable: admitting requests")
