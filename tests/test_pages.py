"""Every dashboard page and partial: login rules, HTMX partials, empty and seeded data."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.http import QueryDict
from django.utils import timezone

from calls.models import LLMCall
from costs.views import COSTS_SECTIONS
from dashkit.filters import filters_parse
from infra_dashboard.views import OVERVIEW_SECTIONS
from llm_gateway import selectors
from llm_gateway.views import PERFORMANCE_SECTIONS
from tests.rollup_helpers import rollups_fill
from validation.models import ValidationResult
from validation.views import QUALITY_SECTIONS

pytestmark = pytest.mark.django_db

PAGES = ["/", "/costs/", "/costs/budgets/", "/quality/", "/performance/", "/requests/"]
PARTIALS = [
    *[("/", t) for t in OVERVIEW_SECTIONS],
    *[("/costs/", t) for t in COSTS_SECTIONS],
    ("/costs/budgets/", "budgets-list"),
    *[("/quality/", t) for t in QUALITY_SECTIONS],
    *[("/performance/", t) for t in PERFORMANCE_SECTIONS],
    ("/requests/", "requests-results"),
    *[(page, "page-body") for page in PAGES],
]
SECRET = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"


@pytest.fixture
def seeded(db):
    """A few calls of every kind, their rollups and validation results."""
    now = timezone.now()
    calls = []
    for i in range(12):
        calls.append(
            LLMCall.objects.create(
                created_at=now - timedelta(minutes=5 * i),
                agent_name="CTO Agent" if i % 2 else "Support Bot",
                model="gpt-4o" if i % 3 else "gpt-4o-mini",
                provider="openai",
                status="success" if i % 4 else "error",
                error_type="" if i % 4 else "LLMRateLimitError",
                cost=Decimal("0.0125"),
                total_tokens=100,
                latency_ms=200.0 + 50 * i,
                ttft_ms=80.0 if i % 2 else None,
                retries=i % 2,
                priced=i != 5,
                request_body={"messages": [{"role": "user", "content": f"key {SECRET}"}]},
            )
        )
    for call in calls[:6]:
        ValidationResult.objects.create(
            call=call,
            is_valid=call.status == "success",
            quality_score=0.9 if call.status == "success" else 0.3,
            checks=[{"name": "min_length", "family": "quality", "passed": False, "message": "x"}],
            failed_families=["quality"],
            agent_name=call.agent_name,
            created_at=call.created_at,
        )
    rollups_fill()
    return calls


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_users_are_sent_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("path", PAGES)
def test_non_staff_users_are_refused(client, django_user_model, path):
    user = django_user_model.objects.create_user(username="viewer", password="x-pass-12345")
    client.force_login(user)
    assert client.get(path).status_code == 403


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_with_no_data(staff_client, path):
    response = staff_client.get(path)
    assert response.status_code == 200
    assert b"<html" in response.content


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("range_", ["1h", "24h", "7d", "30d"])
def test_every_page_renders_with_data_in_every_range(staff_client, seeded, path, range_):
    response = staff_client.get(path, {"range": range_})
    assert response.status_code == 200
    assert SECRET.encode() not in response.content


@pytest.mark.parametrize(("path", "target"), PARTIALS)
def test_partial_is_served_to_htmx_and_full_page_otherwise(staff_client, seeded, path, target):
    partial = staff_client.get(path, HTTP_HX_REQUEST="true", HTTP_HX_TARGET=target)
    assert partial.status_code == 200
    assert b"<html" not in partial.content
    full = staff_client.get(path, HTTP_HX_TARGET=target)
    assert full.status_code == 200
    assert b"<html" in full.content


@pytest.mark.parametrize(("path", "target"), PARTIALS)
def test_partial_renders_with_no_data(staff_client, path, target):
    response = staff_client.get(path, HTTP_HX_REQUEST="true", HTTP_HX_TARGET=target)
    assert response.status_code == 200


def test_history_restore_gets_the_full_page(staff_client):
    response = staff_client.get(
        "/performance/", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert b"<html" in response.content


def test_chart_partials_carry_a_plotly_figure(staff_client, seeded):
    response = staff_client.get(
        "/performance/", {"range": "24h"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="perf-latency"
    )
    assert b"Plotly.newPlot" in response.content


def test_empty_chart_explains_what_to_do(staff_client):
    response = staff_client.get("/costs/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="costs-spend")
    assert b"Plotly.newPlot" not in response.content
    assert b"Widen the time range" in response.content


def test_request_detail_shows_the_record_with_secrets_redacted(staff_client, seeded):
    call = seeded[0]
    response = staff_client.get(f"/requests/{call.id}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert str(call.id) in body
    assert SECRET not in body
    assert "[REDACTED]" in body
    assert "min_length" in body  # its validation checks


def test_request_detail_of_unknown_call_is_404(staff_client):
    response = staff_client.get("/requests/00000000-0000-4000-8000-000000000000/")
    assert response.status_code == 404


def test_requests_filter_by_status_lists_only_matching_calls(staff_client, seeded):
    response = staff_client.get(
        "/requests/", {"status": "error"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="page-body"
    )
    body = response.content.decode()
    assert "3 calls on this page" in body
    assert body.count('title="LLMRateLimitError"') == 3
    assert '<span class="badge badge-ok">ok</span>' not in body


def test_requests_pagination_walks_every_call_once(seeded, monkeypatch):
    monkeypatch.setattr(selectors, "PAGE_SIZE", 5)
    seen, after = [], ""
    for _ in range(5):
        page = selectors.call_page(
            filters=filters_parse(QueryDict("range=24h")), after=after, size=5
        )
        seen += [c.id for c in page.calls]
        if not page.next_cursor:
            break
        after = page.next_cursor
    assert sorted(seen) == sorted(c.id for c in seeded)
    assert len(seen) == len(set(seen))


def test_csv_export_streams_the_current_view(staff_client, seeded):
    response = staff_client.get("/costs/export.csv", {"range": "24h", "agent": "CTO Agent"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    cost_column = lines[0].index("cost_usd")
    hourly = [row for row in lines[1:] if row[1] == "hour"]
    assert {row[2] for row in hourly} == {"CTO Agent"}
    assert sum(Decimal(row[cost_column]) for row in hourly) == Decimal("0.0125") * 6


def test_json_export_streams_the_current_view(staff_client, seeded):
    import json

    response = staff_client.get("/costs/export.json", {"range": "24h", "agent": "CTO Agent"})
    data = json.loads(b"".join(response.streaming_content))
    assert data["filters"]["agent"] == "CTO Agent"
    assert sum(Decimal(r["cost_usd"]) for r in data["rows"]) == Decimal("0.0125") * 6


def test_exports_require_staff(client):
    assert client.get("/costs/export.csv").status_code == 302


def test_pages_carry_the_csrf_token_for_htmx(staff_client):
    body = staff_client.get("/requests/").content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in body


def test_filters_round_trip_through_the_query_string(staff_client, seeded):
    response = staff_client.get("/performance/", {"range": "7d", "agent": "CTO Agent"})
    body = response.content.decode()
    assert "range=7d&amp;agent=CTO+Agent" in body  # polled partials keep the filters


def test_the_months_leaders_are_kept_for_the_cards_poll_interval(staff_client, seeded):
    """The overview's top card aggregates the month's rollups: it is served
    from the cache until its next poll, then from the rollups again."""
    from django.core.cache import cache

    from common.buckets import month_start

    def top_card() -> bytes:
        return staff_client.get("/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="overview-top").content

    assert b"Newcomer" not in top_card()
    LLMCall.objects.create(agent_name="Newcomer", model="gpt-4o", cost=Decimal("50"))
    rollups_fill()
    assert b"Newcomer" not in top_card()  # within the interval: the cached ranking
    cache.delete(f"dash:overview-top:{month_start(timezone.now()).isoformat()}")  # it expires
    assert b"Newcomer" in top_card()
