"""Model prices and the cost of one call.

Prices are USD per 1M tokens, kept as ``Decimal`` end to end: a float would
turn 0.075 into 0.07499999… and the error compounds over millions of calls.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from operator import attrgetter
from typing import Any

from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from calls.models import PRICE_LEDGER_FIELDS
from costs.models import ModelPrice

__all__ = [
    "COST_QUANTUM",
    "PRICE_LEDGER_FIELDS",
    "VERSION_CACHE_KEY",
    "Price",
    "aprice_for",
    "ausage_cost",
    "call_cost",
    "invalidate_price_table",
    "known_models",
    "price_for",
    "price_ledger_fields",
    "priced",
    "resolve_model_name",
]

logger = logging.getLogger(__name__)

# Matches the LLMCall cost column: DecimalField(max_digits=20, decimal_places=10).
COST_QUANTUM = Decimal("1E-10")
_PER_MILLION = Decimal(1_000_000)
_ZERO = Decimal(0)


@dataclass(frozen=True)
class Price:
    """One price row as the hot path sees it: immutable, so it can be shared
    between threads and cached without copying."""

    provider: str
    model: str
    input_per_m: Decimal
    output_per_m: Decimal
    cached_input_per_m: Decimal | None
    cache_write_per_m: Decimal | None
    effective_from: datetime
    id: int | None = None
    # Anthropic's 1-hour cache writes; None: the 5-minute write price.
    cache_write_1h_per_m: Decimal | None = None


def price_ledger_fields(price: Price | None) -> dict[str, Decimal | None]:
    """The LLMCall price columns for a call charged at ``price`` (all None if unpriced)."""
    if price is None:
        return dict.fromkeys(PRICE_LEDGER_FIELDS)
    return {
        "input_price_per_m": price.input_per_m,
        "output_price_per_m": price.output_per_m,
        "cached_price_per_m": price.cached_input_per_m,
    }


# --- model name resolution -------------------------------------------------

# Only prefixes that name the same upstream list price. Data Zone prefixes
# such as "azure/us/" are deliberately absent: those meters cost ~10% more,
# so leaving them unresolved (unpriced, flagged) beats silently undercharging.
_PROVIDER_PREFIX = re.compile(
    r"^(?:openrouter/)?(?:openai|azure|azure_openai|anthropic|bedrock|vertex_ai)/"
)
# Bedrock model IDs: "anthropic.claude-…" or "us.anthropic.claude-…".
_BEDROCK_VENDOR = re.compile(r"^(?:[a-z]+\.)?anthropic\.")
_BEDROCK_VERSION = re.compile(r"-v\d+:\d+$")
# Snapshot suffixes. -MMDD is checked as a real month/day so a name that merely
# ends in four digits is not truncated into another model.
_SNAPSHOT_SUFFIX = re.compile(
    r"(?:-\d{4}-\d{2}-\d{2}"
    r"|-\d{4}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
    r"|-(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
    r"|-latest"
    r"|@\d{8})$"
)


def resolve_model_name(model: str, known: Collection[str]) -> str | None:
    """Return the entry of ``known`` that prices ``model``, or None.

    Only ever removes decorations (provider prefix, snapshot date, Bedrock
    version) and never matches by prefix: "gpt-4o-mini-…" must not fall back
    to "gpt-4o", which costs 16x more. A dated snapshot with its own price
    (gpt-4o-2024-05-13) wins because the exact name is tried first.
    """
    return _resolve(model, {name.lower(): name for name in known})


def _resolve(model: str, index: Mapping[str, str]) -> str | None:
    """Like resolve_model_name, with ``index`` prebuilt (lower-case → known
    spelling) so the hot path does not rebuild it per call."""
    for candidate in _candidates(model):
        if candidate in index:
            return index[candidate]
    return None


def _candidates(model: str) -> Iterator[str]:
    """Names to try, most specific first; each step removes one decoration."""
    name = model.strip().lower()
    yield name
    name = _BEDROCK_VENDOR.sub("", _PROVIDER_PREFIX.sub("", name))
    yield name
    if name.startswith("gpt-35-"):  # Azure cannot use "." in model names
        name = "gpt-3.5-" + name.removeprefix("gpt-35-")
        yield name
    name = _BEDROCK_VERSION.sub("", name)
    yield name
    yield _SNAPSHOT_SUFFIX.sub("", name)


# --- cost arithmetic -------------------------------------------------------


def call_cost(
    price: Price | None,
    *,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
    cache_write_1h_tokens: int = 0,
    writes_in_prompt: bool = False,
) -> Decimal:
    """USD cost of one call, quantized to the cost column's 10 places.

    Token semantics follow the providers' usage objects: OpenAI's
    ``prompt_tokens`` already includes ``cached_tokens``; Anthropic reports
    cache writes separately from ``input_tokens``, so ``cache_write_tokens``
    is added on top; ``cache_write_1h_tokens`` are the writes with a 1-hour
    lifetime, billed at their own (higher) rate and not counted in
    ``cache_write_tokens``. An unpriced model costs 0 (the call is still
    served and flagged as unpriced by the caller).

    ``writes_in_prompt``: usage as the call log keeps it, where
    ``prompt_tokens`` includes the cache reads AND the cache writes (OpenAI's
    convention, so token totals add up) and ``cache_write_1h_tokens`` are
    among the writes. Counts that cannot be part of what contains them are
    clamped, never turned into a negative charge.
    """
    if writes_in_prompt:
        writes = min(cache_write_tokens, prompt_tokens)
        cache_write_1h_tokens = min(cache_write_1h_tokens, writes)
        cache_write_tokens = writes - cache_write_1h_tokens
        prompt_tokens -= writes
        cached_tokens = min(cached_tokens, prompt_tokens)
    _check_tokens(
        prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens + cache_write_1h_tokens
    )
    if price is None:
        return _ZERO.quantize(COST_QUANTUM)
    cached_rate = _or_input(price.cached_input_per_m, price)
    write_rate = _or_input(price.cache_write_per_m, price)
    write_1h_rate = write_rate if price.cache_write_1h_per_m is None else price.cache_write_1h_per_m
    micro_usd = (
        (prompt_tokens - cached_tokens) * price.input_per_m
        + cached_tokens * cached_rate
        + completion_tokens * price.output_per_m
        + cache_write_tokens * write_rate
        + cache_write_1h_tokens * write_1h_rate
    )
    # Exact up to here (int x Decimal is exact within 28 digits). Rounding
    # happens once, at the storage precision, HALF_UP (the commercial rule
    # people reconcile invoices with) rather than the Decimal default
    # HALF_EVEN, which is unbiased but surprises anyone checking by hand. At
    # 1e-10 USD per call the choice moves a sum by < 1e-4 USD per billion calls.
    return (micro_usd / _PER_MILLION).quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)


async def ausage_cost(model: str, provider: str, usage: Any) -> Decimal:
    """Today's cost of a provider's usage object (prompt, completion, cached tokens)."""
    return call_cost(
        await aprice_for(model, provider=provider),
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
    )


def _or_input(rate: Decimal | None, price: Price) -> Decimal:
    """No discounted rate listed means the provider bills those tokens as input."""
    return price.input_per_m if rate is None else rate


def _check_tokens(prompt: int, completion: int, cached: int, cache_write: int) -> None:
    """Reject impossible usage loudly: a negative uncached count would produce
    a cost lower than the truth and nobody would notice."""
    if min(prompt, completion, cached, cache_write) < 0:
        raise ValueError("token counts must be >= 0")
    if cached > prompt:
        raise ValueError(
            f"cached_tokens ({cached}) exceeds prompt_tokens ({prompt}); "
            "prompt_tokens must include cached tokens"
        )


# --- the in-process price table ----------------------------------------------
#
# price_for() runs on every gateway call, so it must not query the database.
# The table is small (tens of rows), so each process keeps all of it in memory
# and reloads it when another process announces a change through the shared
# cache. Reads never take the lock: the table is immutable and swapped in one
# assignment.

VERSION_CACHE_KEY = "costs:price_table_version"
# How stale another process's admin edit may look here. Reading the shared
# cache is a network round trip with Redis; once a second bounds that cost.
VERSION_CHECK_INTERVAL_S = 1.0


@dataclass(frozen=True)
class _ProviderPrices:
    index: Mapping[str, str]  # lower-case name -> spelling in the table
    history: Mapping[str, tuple[Price, ...]]  # lower-case name -> by effective_from


@dataclass(frozen=True)
class _Table:
    shared_version: object  # the cache value seen just before loading
    generation: int  # _state.generation seen just before loading
    providers: Mapping[str, _ProviderPrices]


class _State:
    table: _Table | None = None
    generation = 0  # bumped by local writes; forces a reload in this process
    checked_at = float("-inf")
    lock = threading.Lock()


_state = _State()


def price_for(model: str, *, provider: str = "openai", at: datetime | None = None) -> Price | None:
    """The price in force for ``model`` at ``at`` (default: now).

    Picks the row with the greatest ``effective_from <= at``, so recording a
    price change as a new row never changes the cost of calls already made.
    """
    if _refresh_due():
        _refresh()
    return _lookup(_table(), model, provider, at)


async def aprice_for(
    model: str, *, provider: str = "openai", at: datetime | None = None
) -> Price | None:
    """price_for for the event loop: only a (re)load leaves the loop, in a
    thread, because the ORM refuses to run inside it."""
    if _refresh_due():
        await sync_to_async(_refresh)()
    return _lookup(_table(), model, provider, at)


def known_models(provider: str = "openai") -> frozenset[str]:
    """Model names with at least one price row for ``provider``."""
    if _refresh_due():
        _refresh()
    prices = _table().providers.get(provider)
    return frozenset(prices.index.values()) if prices else frozenset()


def priced(model: str, provider: str = "openai") -> bool:
    """Whether ``model`` resolves to a price row (at any time) for ``provider``."""
    if _refresh_due():
        _refresh()
    prices = _table().providers.get(provider)
    return prices is not None and _resolve(model, prices.index) is not None


def invalidate_price_table() -> None:
    """Make every process reload the table: this one on its next lookup,
    the others within VERSION_CHECK_INTERVAL_S after the commit.

    The shared version is announced only on commit; announced earlier, another
    process could reload, still read the old rows, and keep them.
    """
    with _state.lock:
        _state.generation += 1
    # robust: the row is committed either way; a cache outage must not turn
    # the admin's save into an error page (it is logged instead).
    transaction.on_commit(_announce_new_version, robust=True)


def _announce_new_version() -> None:
    # A random token rather than an incremented counter: if the cache evicts
    # the key, a counter restarts at a value some process may already hold.
    cache.set(VERSION_CACHE_KEY, uuid.uuid4().hex, timeout=None)


def _refresh_due() -> bool:
    table = _state.table
    return (
        table is None
        or table.generation != _state.generation
        or time.monotonic() - _state.checked_at >= VERSION_CHECK_INTERVAL_S
    )


def _refresh() -> None:
    with _state.lock:
        if not _refresh_due():  # another thread refreshed while we waited
            return
        generation = _state.generation
        table = _state.table
        version = _shared_version(table)
        if table is None or table.generation != generation or table.shared_version != version:
            _state.table = _Table(version, generation, _group(_load_prices()))
        _state.checked_at = time.monotonic()


def _shared_version(table: _Table | None) -> object:
    """The announced version; if the cache is down, keep serving the table we
    have (a price edit elsewhere is missed until it is back, a call is not)."""
    try:
        return cache.get(VERSION_CACHE_KEY)
    except Exception:  # any backend's error: the hot path must go on
        logger.warning("price table version unavailable", exc_info=True)
        return table.shared_version if table else None


def _table() -> _Table:
    table = _state.table
    assert table is not None, "_refresh() runs before the first lookup"
    return table


# Price's own field order, so values_list() rows map straight onto it.
_PRICE_FIELDS = tuple(field.name for field in fields(Price))


def _load_prices() -> list[Price]:
    rows = ModelPrice.objects.order_by("effective_from", "id").values_list(*_PRICE_FIELDS)
    return [Price(*row) for row in rows]


def _group(prices: Iterable[Price]) -> dict[str, _ProviderPrices]:
    """Index rows by provider and lower-case model; ``prices`` arrive sorted
    by effective_from, so each history is already in order."""
    histories: dict[str, dict[str, list[Price]]] = defaultdict(lambda: defaultdict(list))
    for price in prices:
        histories[price.provider][price.model.lower()].append(price)
    return {
        provider: _ProviderPrices(
            index={key: rows[-1].model for key, rows in by_model.items()},
            history={key: tuple(rows) for key, rows in by_model.items()},
        )
        for provider, by_model in histories.items()
    }


def _lookup(table: _Table, model: str, provider: str, at: datetime | None) -> Price | None:
    when = _when(at)  # first, so a naive time fails even for an unpriced model
    prices = table.providers.get(provider)
    name = _resolve(model, prices.index) if prices else None
    if name is None:
        return None
    history = prices.history[name.lower()]
    position = bisect_right(history, when, key=attrgetter("effective_from"))
    return history[position - 1] if position else None


def _when(at: datetime | None) -> datetime:
    """A naive datetime is ambiguous by hours; refuse it rather than guess."""
    if at is None:
        return timezone.now()
    if timezone.is_naive(at):
        raise ValueError("price_for(at=...) needs a timezone-aware datetime")
    return at
