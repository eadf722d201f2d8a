"""The chart builders write plain Plotly JSON: it must be what Plotly's own
object model (``go.Figure``) produced before, property for property."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import pytest

from dashkit import figures
from dashkit.figures import Series

X = [datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=i) for i in range(5)]
SERIES = [
    Series(name="p50", x=X, y=[1.0, None, 3.5, 4.0, 0.0]),
    Series(name="failed", x=X, y=[0.0, 2.0, 1.0, 0.25, 9.0]),
]


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Each figure the builders hand to ``figure_html``, as the JSON the page gets."""
    out: list[dict[str, Any]] = []
    original = figures.figure_html

    def capture(*, data: list[dict[str, Any]], layout: dict[str, Any]) -> Any:
        fig = {"data": data, "layout": {"template": figures._template(), **layout}}
        out.append(json.loads(pio.to_json(fig, validate=False)))
        return original(data=data, layout=layout)

    monkeypatch.setattr(figures, "figure_html", capture)
    return out


def _plotly(fig: go.Figure) -> dict[str, Any]:
    return json.loads(pio.to_json(fig))


def test_lines_match_plotly(built: list[dict[str, Any]]) -> None:
    html = figures.lines(SERIES, y_title="ms", y_format=".2f")
    expected = go.Figure(
        [go.Scatter(name=s.name, x=s.x, y=s.y, mode="lines", connectgaps=False) for s in SERIES]
    )
    expected.update_layout(**figures._layout(height=300, y_title="ms", y_format=".2f"))
    assert built == [_plotly(expected)]
    assert html.startswith('<div class="chart">') and "Plotly.newPlot" in html


def test_stacked_bars_match_plotly(built: list[dict[str, Any]]) -> None:
    colors = {"failed": figures.PALETTE[3]}
    figures.stacked_bars(SERIES, y_title="USD", money=True, colors=colors)
    expected = go.Figure(
        [
            go.Bar(
                name=s.name,
                x=s.x,
                y=s.y,
                marker_color=colors.get(s.name),
                hovertemplate="%{y:$,.4f}<extra>%{fullData.name}</extra>",
            )
            for s in SERIES
        ]
    )
    layout = figures._layout(height=320, y_title="USD", y_format="$,.2f")
    expected.update_layout(**layout, barmode="stack", bargap=0.15)
    assert built == [_plotly(expected)]


def test_cumulative_against_budgets_matches_plotly(built: list[dict[str, Any]]) -> None:
    spend = [Decimal("0.10"), Decimal("1.2500000001"), Decimal(3)]
    budgets = [("budget", Decimal(5000)), ("Global (monthly)", Decimal("12.5"))]
    forecast = ([X[2], X[4]], [Decimal(3), Decimal("7.5")])
    figures.cumulative_against_budgets(x=X[:3], spend=spend, budgets=budgets, forecast=forecast)
    expected = go.Figure(
        go.Scatter(
            name="spend",
            x=X[:3],
            y=[float(v) for v in spend],
            mode="lines",
            fill="tozeroy",
            line={"color": figures.PALETTE[0], "width": 2},
        )
    )
    expected.add_trace(
        go.Scatter(
            name="forecast",
            x=forecast[0],
            y=[3.0, 7.5],
            mode="lines",
            line={"color": figures.PALETTE[0], "dash": "dash"},
        )
    )
    # Budgets are named in the legend (labels on the plot overlapped), spanning
    # the spend and its forecast.
    for i, label in enumerate(["budget: $5,000.00", "Global (monthly): $12.50"]):
        expected.add_trace(
            go.Scatter(
                name=label,
                x=[X[0], X[4]],
                y=[float(budgets[i][1])] * 2,
                mode="lines",
                line={
                    "color": figures.PALETTE[(i + 3) % len(figures.PALETTE)],
                    "dash": "dot",
                    "width": 1.5,
                },
                hoverinfo="name",
            )
        )
    # A $5,000 axis is labelled in whole dollars.
    expected.update_layout(**figures._layout(height=320, y_title="USD", y_format="$,.0f"))
    assert built == [_plotly(expected)]


def test_horizontal_bars_match_plotly(built: list[dict[str, Any]]) -> None:
    figures.horizontal_bars(labels=["timeout", "rate_limit"], values=[7, 3], x_title="errors")
    expected = go.Figure(
        go.Bar(x=[3, 7], y=["rate_limit", "timeout"], orientation="h", marker_color="#c8323a")
    )
    layout = figures._layout(height=max(160, 34 * 2 + 60))
    layout["xaxis"].update({"title": {"text": "errors", "font": {"size": 11}}, "tickformat": ""})
    layout["yaxis"].update({"automargin": True, "rangemode": "normal"})
    layout["margin"]["l"] = 8
    layout["hovermode"] = "closest"
    expected.update_layout(**layout)
    assert built == [_plotly(expected)]


def test_bars_with_rate_match_plotly(built: list[dict[str, Any]]) -> None:
    saved = Series(name="saved", x=X, y=[0.5, 0.0, 1.25, 0.0, 2.0])
    rate = Series(name="hit rate", x=X, y=[10.0, None, 50.0, 0.0, 75.0])
    figures.bars_with_rate(x=X, bars=saved, rate=rate, y_title="USD", rate_title="hit rate")
    expected = go.Figure(
        [
            go.Bar(
                name="saved",
                x=X,
                y=saved.y,
                marker_color="#1f9d63",
                hovertemplate="%{y:$,.4f}<extra>%{fullData.name}</extra>",
            ),
            go.Scatter(
                name="hit rate",
                x=X,
                y=rate.y,
                mode="lines",
                connectgaps=False,
                yaxis="y2",
                line_color="#3553d6",
                hovertemplate="%{y:.1f}%<extra>%{fullData.name}</extra>",
            ),
        ]
    )
    layout = figures._layout(height=300, y_title="USD", y_format="$,.2f")
    layout["yaxis2"] = {
        "title": {"text": "hit rate", "font": {"size": 11}},
        "overlaying": "y",
        "side": "right",
        "range": [0, 100],
        "ticksuffix": "%",
        "showgrid": False,
    }
    layout["margin"]["r"] = 48
    expected.update_layout(**layout)
    assert built == [_plotly(expected)]


def test_waterfall_matches_plotly(built: list[dict[str, Any]]) -> None:
    spans = [
        figures.Span("1. plan", X[0], X[0] + timedelta(seconds=2), "ok", "plan"),
        figures.Span("\u00a0└ 2. search", X[0] + timedelta(seconds=1), X[1], "error", "search"),
    ]
    colors = {"ok": "#1f9d63", "error": "#c8323a", "refused": "#e08a00"}
    figures.waterfall(spans, colors=colors)
    expected = go.Figure(
        [
            go.Bar(
                name=s.group,
                orientation="h",
                y=[s.label],
                base=[s.start.isoformat()],
                x=[(s.end - s.start).total_seconds() * 1000],
                marker={"color": colors[s.group], "line": {"color": colors[s.group], "width": 3}},
                customdata=[s.hover],
                hovertemplate="%{customdata}<extra></extra>",
            )
            for s in spans
        ]
    )
    layout = figures._layout(height=240)
    layout["xaxis"].update({"type": "date", "nticks": 6, "tickformat": "%H:%M:%S"})
    layout["yaxis"].update(figures.rows_axis([s.label for s in spans]))
    assert layout["yaxis"]["categoryarray"] == ["1. plan", "\u00a0└ 2. search"]
    layout["margin"].update({"l": 8, "t": 28})
    layout["legend"].update({"y": 1.0, "yanchor": "bottom"})
    layout.update({"hovermode": "closest", "showlegend": True})
    expected.update_layout(**layout, barmode="overlay", bargap=0.35)
    assert built == [_plotly(expected)]
