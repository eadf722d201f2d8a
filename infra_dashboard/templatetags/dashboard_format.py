"""Template filters for numbers and names (dashkit.formatting)."""

from __future__ import annotations

from django import template

from dashkit import formatting

register = template.Library()

register.filter("usd", formatting.usd)
register.filter("usd_exact", formatting.usd_exact)
register.filter("error_label", formatting.error_label)
register.filter("status_label", formatting.status_label)
register.filter("pct", formatting.percent)


@register.filter
def ms(value: object) -> str:
    """Milliseconds with a thousands separator and the unit: "1,234 ms"."""
    if value is None or value == "":
        return "—"
    return f"{float(value):,.0f} ms"


@register.filter
def querystring_with(filters: object, sort: str) -> str:
    """The filters' query string with another sort order (first page)."""
    return filters.querystring(sort=sort)  # type: ignore[attr-defined]
