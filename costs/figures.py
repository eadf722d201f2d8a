"""Plotly figures for the cost pages, built server-side as plain JSON.

Decimal money becomes float only here, at the edge, for drawing: the numbers
people read (tables, cards, exports) stay Decimal.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import plotly.graph_objects as go

_LAYOUT = {
    "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
    "height": 320,
    "barmode": "stack",
    "legend": {"orientation": "h", "y": -0.2},
    "yaxis": {"tickprefix": "$", "rangemode": "tozero"},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
}
MAX_SERIES = 8  # beyond this, the smallest series are summed as "other"


def cost_over_time_figure(
    buckets: list[datetime], series: dict[str, list[Decimal]]
) -> dict[str, object]:
    fig = go.Figure(layout=_LAYOUT)
    for name, values in _top_series(series).items():
        fig.add_bar(x=buckets, y=[float(v) for v in values], name=name)
    return json.loads(fig.to_json())


def breakdown_figure(rows: list[tuple[str, Decimal]]) -> dict[str, object]:
    fig = go.Figure(layout={**_LAYOUT, "barmode": "group", "height": 260})
    names = [name or "(none)" for name, _ in rows][::-1]
    fig.add_bar(x=[float(c) for _, c in rows][::-1], y=names, orientation="h")
    fig.update_layout(xaxis={"tickprefix": "$"}, yaxis={"tickprefix": ""})
    return json.loads(fig.to_json())


def _top_series(series: dict[str, list[Decimal]]) -> dict[str, list[Decimal]]:
    ranked = sorted(series.items(), key=lambda item: -sum(item[1]))
    top = dict(ranked[:MAX_SERIES])
    rest = ranked[MAX_SERIES:]
    if rest:
        top["other"] = [sum(values) for values in zip(*(v for _, v in rest), strict=True)]
    return top
