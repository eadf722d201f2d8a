"""Plotly figures, built server-side from selector output.

Templates only drop the returned HTML in place; no chart data is computed in a
template. The HTML carries its own tiny init script (Plotly.newPlot), which
htmx runs again when a partial is swapped in, so a refreshed card redraws.
Money arrives here as Decimal and becomes float only at this boundary.

Figures are written as plain Plotly JSON (dicts) and serialised without
``plotly.graph_objects``: building a ``go.Figure`` validates every property
through Plotly's object tree, which cost 8–15 ms per chart and was most of the
time of the budgets page (three burn-downs) and the 1 h performance page (four
charts). The dicts are exactly what ``go.Figure(...).to_dict()`` produced,
template included; tests/test_figures.py checks each builder against Plotly's
own validation so a typo in a property name still fails loudly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

import plotly.io as pio
from django.utils.safestring import SafeString, mark_safe

from dashkit.csp import nonce_scripts
from dashkit.formatting import usd

PALETTE = (
    "#3553d6",
    "#1f9d63",
    "#e08a00",
    "#c8323a",
    "#7b4fd6",
    "#1aa3b8",
    "#d6579b",
    "#6b7487",
    "#9bb03a",
)
CONFIG = {"displayModeBar": False, "responsive": True}


@dataclass(frozen=True)
class Series:
    """One line or stack of a time chart: x are bucket starts, y the values."""

    name: str
    x: list[datetime]
    y: list[float | None]


def _layout(*, height: int, y_title: str = "", y_format: str = "") -> dict:
    return {
        "height": height,
        "margin": {"l": 48, "r": 12, "t": 8, "b": 32},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": "-apple-system, Segoe UI, Roboto, Arial, sans-serif", "size": 12},
        "colorway": PALETTE,
        "legend": {"orientation": "h", "y": -0.18, "x": 0, "font": {"size": 11}},
        "hovermode": "x unified",
        "xaxis": {"gridcolor": "#eef1f6", "linecolor": "#e3e7ef"},
        "yaxis": {
            "gridcolor": "#eef1f6",
            "zerolinecolor": "#e3e7ef",
            "title": {"text": y_title, "font": {"size": 11}},
            "tickformat": y_format,
            "rangemode": "tozero",
        },
    }


@cache
def _template() -> dict[str, Any]:
    """Plotly's default template as JSON, which ``go.Figure`` used to embed in every layout."""
    return pio.templates[pio.templates.default].to_plotly_json()


class FigureHtml(SafeString):
    """A figure's markup, which pages cache (rendering.SECTION_CACHE_SECONDS).

    Its init script must carry the nonce of the response it ends up in, not of
    the one that built it: a cached figure with an old nonce is refused by the
    page's CSP and never draws. So the nonce is added when a template renders
    it (Django calls ``__html__``), never stored.
    """

    def __html__(self) -> SafeString:
        return mark_safe(nonce_scripts(str.__str__(self)))


def figure_html(*, data: list[dict[str, Any]], layout: dict[str, Any]) -> SafeString:
    """The figure as a div plus its init script; plotly.js itself comes from static/."""
    fig = {"data": data, "layout": {"template": _template(), **layout}}
    html = pio.to_html(fig, full_html=False, include_plotlyjs=False, config=CONFIG, validate=False)
    return FigureHtml(f'<div class="chart">{html}</div>')


def money_format(values: Sequence[float | None]) -> str:
    """A d3 tick format for USD that suits the numbers drawn: "$1,500" on a
    thousands axis, "$0.25" on a cents axis, "$0.004" below a cent (never
    "$15.000", nor a column of "$0.00")."""
    top = max((abs(v) for v in values if v is not None), default=0.0)
    if top >= 20:
        return "$,.0f"
    if top >= 0.2:
        return "$,.2f"
    return "$,.3~f" if top >= 0.02 else "$,.4~f"


def count_axis(values: Sequence[float | None]) -> dict[str, Any]:
    """Axis settings for whole numbers: no ticks at 0.2 errors."""
    top = max((v for v in values if v is not None), default=0.0)
    axis: dict[str, Any] = {"tickformat": ",d"}
    if top <= 8:
        axis.update({"tick0": 0, "dtick": 1})
    return axis


def _bar(series: Series, *, money: bool, color: str | None) -> dict[str, Any]:
    trace: dict[str, Any] = {"name": series.name, "x": series.x, "y": series.y, "type": "bar"}
    if color is not None:
        trace["marker"] = {"color": color}
    if money:
        trace["hovertemplate"] = "%{y:$,.4f}<extra>%{fullData.name}</extra>"
    return trace


def _stack_totals(series: Sequence[Series]) -> list[float]:
    return [sum(v or 0.0 for v in column) for column in zip(*(s.y for s in series), strict=True)]


def stacked_bars(
    series: Sequence[Series],
    *,
    y_title: str,
    money: bool = False,
    colors: dict[str, str] | None = None,
) -> SafeString:
    data = [_bar(s, money=money, color=(colors or {}).get(s.name)) for s in series]
    totals = _stack_totals(series) if series else []
    layout = _layout(height=320, y_title=y_title, y_format=money_format(totals) if money else "")
    if not money:
        layout["yaxis"].update(count_axis(totals))
    return figure_html(data=data, layout={**layout, "barmode": "stack", "bargap": 0.15})


def lines(
    series: Sequence[Series], *, y_title: str, y_format: str = "", height: int = 300
) -> SafeString:
    data = [
        {
            "name": s.name,
            "x": s.x,
            "y": s.y,
            "mode": "lines",
            "connectgaps": False,
            "type": "scatter",
        }
        for s in series
    ]
    return figure_html(data=data, layout=_layout(height=height, y_title=y_title, y_format=y_format))


def _budget_trace(index: int, name: str, amount: Decimal, x: Sequence[datetime]) -> dict:
    """A budget as a flat dotted line named in the legend: labels written on
    the plot overlapped whenever two budgets were close."""
    y = float(amount)
    return {
        "name": f"{name}: {usd(amount)}",
        "x": [x[0], x[-1]],
        "y": [y, y],
        "mode": "lines",
        "line": {"color": PALETTE[(index + 3) % len(PALETTE)], "dash": "dot", "width": 1.5},
        "hoverinfo": "name",
        "type": "scatter",
    }


def cumulative_against_budgets(
    *,
    x: Sequence[datetime],
    spend: Sequence[Decimal],
    budgets: Sequence[tuple[str, Decimal]],
    forecast: tuple[Sequence[datetime], Sequence[Decimal]] | None = None,
) -> SafeString:
    """Cumulative spend, each budget as a flat line and the forecast as a dashed one."""
    data: list[dict[str, Any]] = [
        {
            "name": "spend",
            "x": list(x),
            "y": [float(v) for v in spend],
            "mode": "lines",
            "fill": "tozeroy",
            "line": {"color": PALETTE[0], "width": 2},
            "type": "scatter",
        }
    ]
    span = [x[0], x[-1]]
    if forecast and forecast[0]:
        span[-1] = max(x[-1], forecast[0][-1])
        data.append(
            {
                "name": "forecast",
                "x": list(forecast[0]),
                "y": [float(v) for v in forecast[1]],
                "mode": "lines",
                "line": {"color": PALETTE[0], "dash": "dash"},
                "type": "scatter",
            }
        )
    data += [_budget_trace(i, name, amount, span) for i, (name, amount) in enumerate(budgets)]
    drawn = [v for trace in data for v in trace["y"]]
    return figure_html(
        data=data, layout=_layout(height=320, y_title="USD", y_format=money_format(drawn))
    )


@dataclass(frozen=True)
class Span:
    """One bar of a waterfall: a row from ``start`` to ``end``, its colour group
    (the legend entry) and the lines its hover shows."""

    label: str
    start: datetime
    end: datetime
    group: str
    hover: str


def rows_axis(labels: Sequence[str]) -> dict[str, Any]:
    """A category axis listing ``labels`` top to bottom, in exactly this order."""
    return {
        "categoryorder": "array",
        "categoryarray": list(labels),
        "autorange": "reversed",
        "automargin": True,
        "rangemode": "normal",
    }


def waterfall(spans: Sequence[Span], *, colors: dict[str, str]) -> SafeString:
    """A timeline of spans, one row each in the order given, top to bottom.

    Bars are drawn as Plotly's timeline does: ``base`` is the start on a date
    axis and the length is the duration in milliseconds. One trace per group,
    so the legend names the colours; the row order is pinned (categoryarray)
    because Plotly would otherwise order rows by the trace they first appear in.
    """
    data = []
    for group, color in colors.items():
        rows = [s for s in spans if s.group == group]
        if not rows:
            continue
        data.append(
            {
                "name": group,
                "type": "bar",
                "orientation": "h",
                "y": [s.label for s in rows],
                "base": [s.start.isoformat() for s in rows],
                "x": [max((s.end - s.start).total_seconds() * 1000, 1.0) for s in rows],
                # The outline keeps a 1-second call visible on a 20-minute axis.
                "marker": {"color": color, "line": {"color": color, "width": 3}},
                "customdata": [s.hover for s in rows],
                "hovertemplate": "%{customdata}<extra></extra>",
            }
        )
    layout = _layout(height=max(240, 26 * len(spans) + 90))
    # Few, short ticks: a session lasts seconds to hours and the page says its day.
    layout["xaxis"].update({"type": "date", "nticks": 6, "tickformat": "%H:%M:%S"})
    layout["yaxis"].update(rows_axis([s.label for s in spans]))
    layout["margin"]["l"] = 8
    layout["hovermode"] = "closest"
    # Above the rows: below, a short chart's legend ran into the time axis.
    layout["legend"].update({"y": 1.0, "yanchor": "bottom"})
    layout["margin"]["t"] = 28
    layout["showlegend"] = True  # even for one colour: it says what green means
    return figure_html(data=data, layout={**layout, "barmode": "overlay", "bargap": 0.35})


def horizontal_bars(
    *,
    labels: Sequence[str],
    values: Sequence[float],
    x_title: str,
    x_format: str = "",
    whole_numbers: bool = False,
) -> SafeString:
    """Ranked bars, biggest on top (e.g. error types, failing rules)."""
    data = [
        {
            "x": list(values)[::-1],
            "y": list(labels)[::-1],
            "orientation": "h",
            "marker": {"color": PALETTE[3]},
            "type": "bar",
        }
    ]
    layout = _layout(height=max(160, 34 * len(labels) + 60))
    layout["xaxis"].update(
        {"title": {"text": x_title, "font": {"size": 11}}, "tickformat": x_format}
    )
    if whole_numbers:
        layout["xaxis"].update(count_axis(values))
    layout["yaxis"].update({"automargin": True, "rangemode": "normal"})
    layout["margin"]["l"] = 8
    layout["hovermode"] = "closest"
    return figure_html(data=data, layout=layout)


def bars_with_rate(
    *,
    x: Sequence[datetime],
    bars: Series,
    rate: Series,
    y_title: str,
    rate_title: str,
) -> SafeString:
    """Money per bucket as bars on the left axis and a 0-100 % rate as a line on
    the right (e.g. money saved by the response cache, and its hit rate)."""
    data = [
        {**_bar(bars, money=True, color=PALETTE[1]), "x": list(x)},
        {
            "name": rate.name,
            "x": list(x),
            "y": rate.y,
            "mode": "lines",
            "connectgaps": False,
            "yaxis": "y2",
            "line": {"color": PALETTE[0]},
            "hovertemplate": "%{y:.1f}%<extra>%{fullData.name}</extra>",
            "type": "scatter",
        },
    ]
    layout = _layout(height=300, y_title=y_title, y_format=money_format(bars.y))
    layout["yaxis2"] = {
        "title": {"text": rate_title, "font": {"size": 11}},
        "overlaying": "y",
        "side": "right",
        "range": [0, 100],
        "ticksuffix": "%",
        "showgrid": False,
    }
    layout["margin"]["r"] = 48
    return figure_html(data=data, layout=layout)
