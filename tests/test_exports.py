"""Streamed exports of the call log: CSV and JSON, bounded memory."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from calls.models import LLMCall
from costs.exports import calls_csv_lines, calls_json_chunks
from costs.tracker import CostTracker
from costs.usage import UsageFilter

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROWS = 100_000
COST = Decimal("0.0000123457")


def bulk_calls(n: int) -> None:
    batch: list[LLMCall] = []
    for i in range(n):
        at = T0 + timedelta(seconds=i * 30)
        batch.append(
            LLMCall(
                created_at=at,
                recorded_at=at,
                agent_name="CTO Agent" if i % 2 else "Support Bot",
                model="gpt-4o-mini",
                provider="openai",
                prompt_tokens=50,
                completion_tokens=10,
                total_tokens=60,
                cost=COST,
                key_prefix="gw_0123abcd",
            )
        )
        if len(batch) == 5000:
            LLMCall.objects.bulk_create(batch)
            batch = []
    LLMCall.objects.bulk_create(batch)


def test_a_100k_row_csv_export_streams_in_bounded_memory():
    bulk_calls(ROWS)
    end = T0 + timedelta(seconds=ROWS * 30)
    tracemalloc.start()
    count, total, header = 0, Decimal(0), None
    try:
        for line in calls_csv_lines(start=T0, end=end):
            (row,) = csv.reader([line])
            if header is None:
                header = row
                continue
            count += 1
            total += Decimal(row[header.index("cost")])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"rows={count} peak={peak / 1e6:.1f} MB")
    assert count == ROWS
    assert total == COST * ROWS
    assert peak < 30_000_000


def test_the_json_export_is_one_array_with_filters_applied():
    bulk_calls(50)
    chunks = calls_json_chunks(
        start=T0, end=T0 + timedelta(days=1), filters=UsageFilter(agent="CTO Agent")
    )
    rows = json.loads("".join(chunks))
    assert len(rows) == 25
    assert {row["agent_name"] for row in rows} == {"CTO Agent"}
    assert rows[0]["cost"] == "0.0000123457"
    assert rows[0]["key_prefix"] == "gw_0123abcd"
    assert "request_body" not in rows[0]


def test_exports_cover_only_the_time_range_and_defuse_formulas():
    bulk_calls(10)
    LLMCall.objects.filter(agent_name="Support Bot").update(agent_name="=HYPERLINK(1)")
    text = "".join(calls_csv_lines(start=T0, end=T0 + timedelta(seconds=90)))
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 1 + 3
    assert "'=HYPERLINK(1)" in [row[2] for row in rows]


def test_the_tracker_exports_through_the_same_generators():
    bulk_calls(4)
    text = "".join(CostTracker().export(start=T0, end=T0 + timedelta(days=1), format="json"))
    assert len(json.loads(text)) == 4
