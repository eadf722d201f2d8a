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


@register.filter
def querystring_order(filters: object, order: str) -> str:
    """The filters' query string with another list order (sessions, users; first page)."""
    return filters.querystring(order=order)  # type: ignore[attr-defined]


@register.filter
def duration(value: object) -> str:
    """A timedelta as "2 h 05 min", "4 min 10 s" or "12 s": session lengths."""
    seconds = int(value.total_seconds()) if hasattr(value, "total_seconds") else 0
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
