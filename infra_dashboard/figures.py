"""Plotly figures, built server-side from selector output.

Templates only drop the returned HTML in place; no chart data is computed in a
template. The HTML carries its own tiny init script (Plotly.newPlot), which
htmx runs again when a partial is swapped in, so a refreshed card redraws.
Money arrives here as Decimal and becomes float only at this boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import plotly.graph_objects as go
from django.utils.safestring import SafeString, mark_safe

from infra_dashboard.security import nonce_scripts
from infra_dashboard.selectors import Series

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


def figure_html(fig: go.Figure) -> SafeString:
    """The figure as a div plus its init script; plotly.js itself comes from static/."""
    html = fig.to_html(full_html=False, include_plotlyjs=False, config=CONFIG)
    html = nonce_scripts(html)  # the page's CSP runs inline scripts with its nonce only
    return mark_safe(f'<div class="chart">{html}</div>')


def stacked_bars(
    series: Sequence[Series],
    *,
    y_title: str,
    money: bool = False,
    colors: dict[str, str] | None = None,
) -> SafeString:
    fig = go.Figure(
        [
            go.Bar(
                name=s.name,
                x=s.x,
                y=s.y,
                marker_color=(colors or {}).get(s.name),
                hovertemplate="%{y:$,.4f}<extra>%{fullData.name}</extra>" if money else None,
            )
            for s in series
        ]
    )
    fig.update_layout(
        **_layout(height=320, y_title=y_title, y_format="$,.2f" if money else ""),
        barmode="stack",
        bargap=0.15,
    )
    return figure_html(fig)


def lines(
    series: Sequence[Series], *, y_title: str, y_format: str = "", height: int = 300
) -> SafeString:
    fig = go.Figure(
        [go.Scatter(name=s.name, x=s.x, y=s.y, mode="lines", connectgaps=False) for s in series]
    )
    fig.update_layout(**_layout(height=height, y_title=y_title, y_format=y_format))
    return figure_html(fig)


def cumulative_against_budgets(
    *,
    x: Sequence[datetime],
    spend: Sequence[Decimal],
    budgets: Sequence[tuple[str, Decimal]],
    forecast: tuple[Sequence[datetime], Sequence[Decimal]] | None = None,
) -> SafeString:
    """Cumulative spend, each budget as a flat line and the forecast as a dashed one."""
    fig = go.Figure(
        go.Scatter(
            name="spend",
            x=list(x),
            y=[float(v) for v in spend],
            mode="lines",
            fill="tozeroy",
            line={"color": PALETTE[0], "width": 2},
        )
    )
    if forecast and forecast[0]:
        fig.add_trace(
            go.Scatter(
                name="forecast",
                x=list(forecast[0]),
                y=[float(v) for v in forecast[1]],
                mode="lines",
                line={"color": PALETTE[0], "dash": "dash"},
            )
        )
    for i, (name, amount) in enumerate(budgets):
        fig.add_hline(
            y=float(amount),
            line={"color": PALETTE[(i + 3) % len(PALETTE)], "dash": "dot"},
            annotation_text=name,
            annotation_position="top left",
        )
    fig.update_layout(**_layout(height=320, y_title="USD", y_format="$,.2f"))
    return figure_html(fig)


def horizontal_bars(
    *, labels: Sequence[str], values: Sequence[float], x_title: str, x_format: str = ""
) -> SafeString:
    """Ranked bars, biggest on top (e.g. error types, failing rules)."""
    fig = go.Figure(
        go.Bar(x=list(values)[::-1], y=list(labels)[::-1], orientation="h", marker_color=PALETTE[3])
    )
    layout = _layout(height=max(160, 34 * len(labels) + 60))
    layout["xaxis"].update(
        {"title": {"text": x_title, "font": {"size": 11}}, "tickformat": x_format}
    )
    layout["yaxis"].update({"automargin": True, "rangemode": "normal"})
    layout["margin"]["l"] = 8
    layout["hovermode"] = "closest"
    fig.update_layout(**layout)
    return figure_html(fig)
