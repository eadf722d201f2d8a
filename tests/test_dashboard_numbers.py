"""Numbers and names read the same on every page, and today's charts are on the overview."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from calls.models import LLMCall
from common.buckets import day_start
from costs.budgets import budget_create
from costs.recommendations import Recommendation, recommendations_worth_showing
from costs.rollups import rollups_update
from dashkit import figures
from dashkit.formatting import error_label, status_label, usd, usd_exact

pytestmark = pytest.mark.django_db


def _call(**fields) -> LLMCall:
    now = timezone.now()
    # Recorded past the rollup job's commit lag; made today even just after midnight.
    fields.setdefault("recorded_at", now - timedelta(minutes=2))
    fields.setdefault("created_at", max(fields["recorded_at"], day_start(now)))
    fields = {"provider": "openai", "agent_name": "A", "model": "gpt-4o", **fields}
    return LLMCall.objects.create(**fields)


def _figures(html: str) -> list[dict]:
    """The Plotly figures a page or partial draws, read back from their init scripts."""
    found = re.findall(
        r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{", html, re.S
    )
    return [{"data": json.loads(d), "layout": json.loads(lay)} for d, lay in found]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("0.2602"), "$0.26"),
        (Decimal("0.84"), "$0.84"),
        (Decimal("1234.5"), "$1,234.50"),
        (Decimal("0.00042"), "$0.00042"),
        (Decimal("0.0050"), "$0.005"),
        (Decimal("0E-10"), "$0.00"),
        (None, "—"),
    ],
)
def test_money_reads_as_cents_and_sub_cent_amounts_keep_two_digits(value, text):
    assert usd(value) == text


def test_exact_money_keeps_every_digit_that_matters():
    assert usd_exact(Decimal("0.0001230000")) == "$0.000123"
    assert usd_exact(Decimal("2.5")) == "$2.50"


def test_spend_today_and_this_month_share_one_format(staff_client):
    _call(cost=Decimal("0.2602"))
    body = staff_client.get("/").content.decode()
    assert re.search(r'class="value"[^>]*>\$0\.26<', body)  # today
    assert "$0.2602" not in re.sub(r'title="[^"]*"', "", body)  # only as the exact tooltip


@pytest.mark.parametrize(
    ("values", "fmt"),
    [([15.0, 3.0], "$,.2f"), ([1500.0], "$,.0f"), ([0.5], "$,.2f"), ([0.004], "$,.4~f")],
)
def test_money_axes_format_for_the_numbers_drawn(values, fmt):
    assert figures.money_format(values) == fmt
    assert figures.money_format(values) != "$,.3f"  # "$15.000" was the old axis


def test_error_counts_tick_in_whole_numbers_with_readable_labels(staff_client):
    for error in ("LLMTimeoutError", "LLMTimeoutError", "LLMRateLimitError"):
        _call(status="error", error_type=error, http_status=504)
    rollups_update()
    html = staff_client.get(
        "/performance/", {"range": "24h"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="perf-errors"
    ).content.decode()
    (fig,) = _figures(html)
    assert fig["data"][0]["y"] == ["Rate limited", "Timeout"]
    assert (fig["layout"]["xaxis"]["dtick"], fig["layout"]["xaxis"]["tickformat"]) == (1, ",d")


def test_statuses_and_error_types_have_human_labels(staff_client):
    assert status_label("client_disconnected") == "Client disconnected"
    assert error_label("LLMTimeoutError") == "Timeout"
    assert error_label("ModelNotAllowedError") == "Model not allowed"
    _call(status="error", error_type="LLMTimeoutError")
    body = staff_client.get("/requests/").content.decode()
    assert ">Client disconnected</option>" in body and "Clientdisconnected" not in body
    assert ">Timeout</span>" in body


def test_call_detail_has_no_microseconds_and_explains_a_missing_http_status(staff_client):
    call = _call(source="python", http_status=None, cost=Decimal("0.000123"))
    body = staff_client.get(f"/requests/{call.id}/").content.decode()
    assert re.search(r"<dd>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</dd>", body)
    assert "a Python API call, not HTTP" in body
    assert "$0.000123" in body


def test_budget_lines_are_named_in_the_legend_not_written_over_each_other(staff_client):
    budget_create(name="Global", amount="10", period="monthly")
    budget_create(name="Global 2", amount="10.5", period="monthly")
    _call(cost=Decimal("3"))
    rollups_update()
    html = staff_client.get(
        "/costs/", {"range": "7d"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="costs-cumulative"
    ).content.decode()
    (fig,) = _figures(html)
    assert "annotations" not in fig["layout"]
    names = [trace["name"] for trace in fig["data"]]
    assert "Global (monthly): $10.00" in names and "Global 2 (monthly): $10.50" in names


def test_recommendations_show_no_repeats_and_nothing_worth_nothing():
    def rec(kind: str, agent: str, saving: str | None) -> Recommendation:
        saving_value = Decimal(saving) if saving is not None else None
        return Recommendation(kind, f"{kind} {agent}", "", agent, "m", saving_value)

    advice = [
        rec("cheaper_model", "A", "5"),
        rec("cheaper_model", "A", "4"),  # the same advice again
        rec("errors", "B", "0.00"),
        rec("truncation", "C", "0.5"),
        rec("truncation", "D", "0.4"),
        rec("truncation", "E", "0.3"),
        rec("truncation", "F", "0.2"),
        rec("unpriced", "G", None),
    ]
    shown = [(r.kind, r.agent) for r in recommendations_worth_showing(advice)]
    assert shown == [
        ("cheaper_model", "A"),
        ("truncation", "C"),
        ("truncation", "D"),
        ("truncation", "E"),
        ("unpriced", "G"),
    ]


def test_the_overview_charts_todays_spend_calls_and_errors(staff_client):
    _call(cost=Decimal("0.5"))
    _call(cost=Decimal("0.25"), model="gpt-4o-mini")
    _call(status="error", error_type="LLMRateLimitError")
    rollups_update()
    body = staff_client.get("/").content.decode()
    spend, calls, errors = _figures(body)
    assert sum(sum(v for v in trace["y"] if v) for trace in spend["data"]) == pytest.approx(0.75)
    assert len(spend["data"][0]["x"]) == 24  # the whole day, hour by hour
    assert [t["name"] for t in calls["data"]] == ["succeeded", "failed"]
    assert errors["data"][0]["y"] == ["Rate limited"]


def test_the_overview_charts_say_so_when_today_is_empty(staff_client):
    body = staff_client.get("/").content.decode()
    assert "No spend yet today" in body and "No calls yet today" in body
    assert "Plotly.newPlot" not in body


def test_cached_figures_carry_each_responses_own_nonce(staff_client):
    _call(cost=Decimal("1"))
    rollups_update()
    for _ in range(2):  # the second render comes from the section cache
        response = staff_client.get("/costs/", {"range": "30d"})
        nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
        scripts = re.findall(r"<script nonce=\"([^\"]+)\">", response.content.decode())
        assert scripts and set(scripts) == {nonce}
