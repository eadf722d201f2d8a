"""Every call's operation, from the call log through the rollups to the pages and exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from calls.models import LLMCall
from costs.models import UsageRollup
from costs.rollups import rollups_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def mixed_usage():
    when = timezone.now() - timedelta(hours=2)
    for operation, model, cost in [
        ("chat", "gpt-4o-mini", "0.40"),
        ("embeddings", "text-embedding-3-small", "0.07"),
        ("embeddings", "text-embedding-3-small", "0.02"),
        ("responses", "gpt-4o-mini", "0.30"),
    ]:
        LLMCall.objects.create(
            created_at=when,
            recorded_at=when,
            agent_name="Indexer",
            model=model,
            provider="openai",
            operation=operation,
            cost=Decimal(cost),
            prompt_tokens=10,
            total_tokens=10,
        )
    rollups_update()


def test_rollups_keep_the_operation_in_their_key(mixed_usage):
    hour = UsageRollup.objects.filter(granularity="hour", model="gpt-4o-mini")
    assert sorted(hour.values_list("operation", "cost")) == [
        ("chat", Decimal("0.40")),
        ("responses", Decimal("0.30")),
    ]
    embeddings = UsageRollup.objects.get(granularity="hour", operation="embeddings")
    assert (embeddings.calls, embeddings.cost) == (2, Decimal("0.09"))


def test_the_costs_page_filters_by_operation(staff_client, mixed_usage):
    body = staff_client.get("/costs/?range=24h&operation=embeddings").content.decode()
    assert "$0.09" in body
    assert "$0.79" not in body
    assert "<option selected>embeddings</option>" in body


def test_the_costs_page_breaks_spend_down_by_operation(staff_client, mixed_usage):
    body = staff_client.get("/costs/?range=24h&group=operation").content.decode()
    assert "Spend over time by operation" in body
    for name in ("chat", "embeddings", "responses"):
        assert f'"name":"{name}"' in body.replace(": ", ":")


def test_the_request_explorer_filters_by_operation(staff_client, mixed_usage):
    body = staff_client.get("/requests/?range=24h&operation=responses").content.decode()
    assert body.count('<td class="hide-sm">responses</td>') == 1
    assert '<td class="hide-sm">embeddings</td>' not in body


def test_exports_carry_and_filter_the_operation(staff_client, mixed_usage):
    response = staff_client.get("/costs/export.csv?range=24h&operation=embeddings")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][-1] == "operation"
    assert {row[-1] for row in rows[1:]} == {"embeddings"}
    response = staff_client.get("/costs/export.json?range=24h&group=operation")
    data = json.loads(b"".join(response.streaming_content))
    totals: dict[str, Decimal] = {}
    for row in data["rows"]:
        totals[row["operation"]] = totals.get(row["operation"], Decimal(0)) + Decimal(
            row["cost_usd"]
        )
    assert totals == {
        "chat": Decimal("0.40"),
        "embeddings": Decimal("0.09"),
        "responses": Decimal("0.30"),
    }
