"""Model prices and the cost of one call.

Prices are USD per 1M tokens, kept as ``Decimal`` end to end: a float would
turn 0.075 into 0.07499999… and the error compounds over millions of calls.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

__all__ = [
    "COST_QUANTUM",
    "Price",
    "call_cost",
    "resolve_model_name",
]

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
) -> Decimal:
    """USD cost of one call, quantized to the cost column's 10 places.

    Token semantics follow the providers' usage objects: OpenAI's
    ``prompt_tokens`` already includes ``cached_tokens``; Anthropic reports
    cache writes separately from ``input_tokens``, so ``cache_write_tokens``
    is added on top. An unpriced model costs 0 (the call is still served and
    flagged as unpriced by the caller).
    """
    _check_tokens(prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens)
    if price is None:
        return _ZERO.quantize(COST_QUANTUM)
    cached_rate = _or_input(price.cached_input_per_m, price)
    write_rate = _or_input(price.cache_write_per_m, price)
    micro_usd = (
        (prompt_tokens - cached_tokens) * price.input_per_m
        + cached_tokens * cached_rate
        + completion_tokens * price.output_per_m
        + cache_write_tokens * write_rate
    )
    # Exact up to here (int x Decimal is exact within 28 digits). Rounding
    # happens once, at the storage precision, HALF_UP (the commercial rule
    # people reconcile invoices with) rather than the Decimal default
    # HALF_EVEN, which is unbiased but surprises anyone checking by hand. At
    # 1e-10 USD per call the choice moves a sum by < 1e-4 USD per billion calls.
    return (micro_usd / _PER_MILLION).quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)


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
