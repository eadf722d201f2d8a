"""How numbers and names read on the dashboards, in one place.

Money reads the same everywhere: whole cents for anything a cent or more,
and two significant digits below a cent (a single call often costs
$0.00042, which "$0.00" would hide). Calls record error *types* as the
exception class names the gateway raised; people read labels.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
# Known error types, read as what happened rather than which class said so.
ERROR_LABELS = {
    "LLMTimeoutError": "Timeout",
    "LLMRateLimitError": "Rate limited",
    "LLMProviderError": "Provider error",
    "LLMAuthenticationError": "Authentication failed",
    "LLMQuotaExceededError": "Provider quota exceeded",
    "LLMBudgetExceededError": "Budget exceeded",
    "LLMError": "Gateway error",
    "ClientDisconnected": "Client disconnected",
}
STATUS_LABELS = {
    "success": "Success",
    "error": "Error",
    "client_disconnected": "Client disconnected",
    "blocked": "Blocked by a budget",
}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def usd(value: object) -> str:
    """``$1,234.56``; below a cent two significant digits (``$0.00042``); "—" for none."""
    number = _decimal(value)
    if number is None:
        return "—"
    sign = "-" if number < 0 else ""
    number = abs(number)
    if number == 0 or number >= CENT:
        return f"{sign}${number.quantize(CENT, rounding=ROUND_HALF_UP):,.2f}"
    exponent = number.adjusted() - 1  # two significant digits
    digits = min(-exponent, 8)
    small = number.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return f"{sign}${small:.{digits}f}".rstrip("0")


def usd_exact(value: object) -> str:
    """Every stored digit that matters, at least cents: prices ("$0.075" per 1M
    tokens) and one call's cost ("$0.000123"), where rounding would mislead."""
    number = _decimal(value)
    if number is None:
        return "—"
    text = f"{abs(number).quantize(Decimal('1e-10')):,f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"{'-' if number < 0 else ''}${whole}.{decimals.ljust(2, '0')}"


def error_label(error_type: str) -> str:
    """``LLMTimeoutError`` → "Timeout"; unknown names are split into words."""
    if not error_type:
        return ""
    if error_type in ERROR_LABELS:
        return ERROR_LABELS[error_type]
    name = error_type.removeprefix("LLM").removesuffix("Error") or error_type
    words = _CAMEL.sub(" ", name).replace("_", " ").strip()
    return words[:1].upper() + words[1:].lower()


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status.replace("_", " ").capitalize())


def percent(fraction: object) -> str:
    """A threshold fraction as a percentage: 0.8 → "80%", 1.25 → "125%"."""
    number = _decimal(fraction)
    if number is None:
        return "—"
    return f"{(number * 100).normalize():f}%"
