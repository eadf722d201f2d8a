"""Usage rollups: idempotent, late rows found again, and the reads built on them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from calls.models import LLMCall
from common import histogram
from costs.models import Granularity, UsageRollup
from costs.rollups import COMMIT_LAG, rollup_position, rollups_rebuild_all, rollups_update
from costs.usage import UsageFilter, usage_breakdown, usage_totals
from costs.usage_series import cost_series

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def make_call(at: datetime, *, recorded: datetime | None = None, **fields) -> LLMCall:
    values = {
        "agent_name": "CTO Agent",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "cost": Decimal("0.0010000000"),
        "latency_ms": 400.0,
    }
    values.update(fields)
    return LLMCall.objects.create(created_at=at, recorded_at=recorded or at, **values)


def minute_rows() -> list[UsageRollup]:
    return list(UsageRollup.objects.filter(granularity=Granularity.MINUTE))


def test_calls_are_folded_into_minute_and_hour_buckets():
    make_call(T0 + timedelta(seconds=5))
    make_call(T0 + timedelta(seconds=50), cost=Decimal("0.002"), latency_ms=1200)
    make_call(T0 + timedelta(minutes=3), agent_name="Support Bot", status="error", error_type="X")
    rollups_update(now=T0 + timedelta(hours=1))

    cto = UsageRollup.objects.get(granularity="minute", bucket_start=T0, agent_name="CTO Agent")
    assert (cto.calls, cto.cost, cto.prompt_tokens) == (2, Decimal("0.003"), 200)
    assert sum(cto.latency_hist) == 2
    assert cto.latency_hist[histogram.bucket_index(1200)] == 1
    hour = UsageRollup.objects.filter(granularity="hour", bucket_start=T0)
    assert sorted(hour.values_list("agent_name", "calls", "errors")) == [
        ("CTO Agent", 2, 0),
        ("Support Bot", 1, 1),
    ]
    assert hour.get(agent_name="Support Bot").error_types == {"X": 1}


def test_running_the_rollup_twice_does_not_double_count():
    make_call(T0)
    rollups_update(now=T0 + timedelta(minutes=5))
    rollups_update(now=T0 + timedelta(minutes=10))
    rollups_rebuild_all()
    assert [r.calls for r in minute_rows()] == [1]


def test_a_late_row_is_folded_into_the_bucket_where_its_call_started():
    make_call(T0, recorded=T0)
    rollups_update(now=T0 + timedelta(minutes=5))
    # A long stream started at T0 and was written ten minutes later.
    make_call(T0 + timedelta(seconds=1), recorded=T0 + timedelta(minutes=10))
    rollups_update(now=T0 + timedelta(minutes=15))
    assert [(r.bucket_start, r.calls) for r in minute_rows()] == [(T0, 2)]
    assert UsageRollup.objects.get(granularity="hour").calls == 2


def test_rows_younger_than_the_commit_lag_wait_for_the_next_run():
    now = T0 + timedelta(minutes=1)
    make_call(now - COMMIT_LAG / 2)
    rollups_update(now=now)
    assert minute_rows() == []
    assert rollup_position() == now - COMMIT_LAG
    rollups_update(now=now + COMMIT_LAG)
    assert [r.calls for r in minute_rows()] == [1]


def test_totals_and_breakdowns_are_read_from_rollups():
    make_call(T0, cost=Decimal("0.5"))
    make_call(T0 + timedelta(hours=2), model="gpt-4o", cost=Decimal("2"))
    rollups_update(now=T0 + timedelta(hours=3))
    LLMCall.objects.all().delete()  # the reads must not need the raw log

    totals = usage_totals(start=T0, end=T0 + timedelta(days=1))
    assert (totals.calls, totals.cost) == (2, Decimal("2.5"))
    assert totals.latency_ms(0.5) is not None
    by_model = usage_breakdown(start=T0, end=T0 + timedelta(days=1), by="model")
    assert [(name, t.cost) for name, t in by_model] == [
        ("gpt-4o", Decimal("2")),
        ("gpt-4o-mini", Decimal("0.5")),
    ]
    only_mini = usage_totals(
        start=T0, end=T0 + timedelta(days=1), filters=UsageFilter(model="gpt-4o-mini")
    )
    assert only_mini.cost == Decimal("0.5")


def test_cost_series_has_a_value_for_every_bucket():
    make_call(T0 + timedelta(minutes=30), cost=Decimal("1"))
    rollups_update(now=T0 + timedelta(hours=2))
    buckets, series = cost_series(start=T0, end=T0 + timedelta(hours=12), by="agent")
    assert len(buckets) == 12
    assert series["CTO Agent"][0] == Decimal("1")
    assert sum(series["CTO Agent"][1:]) == 0


def test_seeded_demo_history_is_visible_in_rollups(prices):
    from django.core.management import call_command
    from django.utils import timezone

    call_command("seed_demo_data", calls=200, days=3)
    now = timezone.now()
    totals = usage_totals(start=now - timedelta(days=4), end=now + timedelta(minutes=1))
    assert totals.calls == LLMCall.objects.count() == 200


def _direct_aggregate(granularity: str) -> dict[tuple, tuple]:
    """The raw rows summed in Python per bucket and key: the ground truth."""
    from collections import defaultdict

    from common.buckets import bucket_floor
    from costs.rollups import STEP

    totals: dict[tuple, list] = defaultdict(lambda: [0, 0, 0, 0, 0, Decimal(0)])
    for call in LLMCall.objects.all():
        key = (bucket_floor(call.created_at, width=STEP[granularity]), call.agent_name, call.model)
        entry = totals[key]
        entry[0] += 1
        entry[1] += int(call.status != "success")
        entry[2] += call.prompt_tokens
        entry[3] += call.completion_tokens
        entry[4] += call.cached_tokens
        entry[5] += call.cost
    return {key: tuple(values) for key, values in totals.items()}


def _rolled_up(granularity: str) -> dict[tuple, tuple]:
    return {
        (r.bucket_start, r.agent_name, r.model): (
            r.calls,
            r.errors,
            r.prompt_tokens,
            r.completion_tokens,
            r.cached_tokens,
            r.cost,
        )
        for r in UsageRollup.objects.filter(granularity=granularity)
    }


def test_rollups_equal_a_direct_aggregate_of_the_raw_rows_after_reruns_and_late_rows():
    import random

    rng = random.Random(5)
    agents, models = ["CTO Agent", "Support Bot"], ["gpt-4o", "gpt-4o-mini"]

    def add(n: int, *, recorded: datetime | None = None) -> None:
        for _ in range(n):
            at = T0 + timedelta(seconds=rng.randrange(0, 3 * 3600))
            prompt = rng.randrange(1, 5000)
            make_call(
                at,
                recorded=recorded or at,
                agent_name=rng.choice(agents),
                model=rng.choice(models),
                status=rng.choice(["success", "success", "error", "client_disconnected"]),
                prompt_tokens=prompt,
                completion_tokens=rng.randrange(0, 900),
                cached_tokens=rng.randrange(0, prompt),
                # Ten decimal places: the comparison is to the last one.
                cost=Decimal(rng.randrange(1, 10**9)) / Decimal(10**10),
            )

    add(150)
    rollups_update(now=T0 + timedelta(hours=4))
    rollups_update(now=T0 + timedelta(hours=4, minutes=5))  # a rerun changes nothing
    # Late rows: calls that started inside buckets already rolled up, written later.
    add(40, recorded=T0 + timedelta(hours=4, minutes=10))
    rollups_update(now=T0 + timedelta(hours=5))
    rollups_update(now=T0 + timedelta(hours=5))
    for granularity in (Granularity.MINUTE, Granularity.HOUR):
        assert _rolled_up(granularity) == _direct_aggregate(granularity)
    rollups_rebuild_all()  # and a full rebuild agrees too
    assert _rolled_up(Granularity.HOUR) == _direct_aggregate(Granularity.HOUR)
    assert sum(v[0] for v in _rolled_up(Granularity.HOUR).values()) == 190


def test_sparse_history_is_rebuilt_in_groups_and_pruned_buckets_between_survive():
    """A rebuild reads several buckets per query (gaps and spans capped); a bucket
    between them whose raw rows were pruned keeps its rollup."""
    offsets = [0, 1, 59, 61, 180, 24 * 60 + 7, 3 * 24 * 60, 3 * 24 * 60 + 2]
    for n, minutes in enumerate(offsets):
        make_call(T0 + timedelta(minutes=minutes, seconds=n), cost=Decimal("0.001") * (n + 1))
    pruned_minute = T0 + timedelta(minutes=30)  # between calls, its raw rows gone
    UsageRollup.objects.create(
        granularity="minute", bucket_start=pruned_minute, agent_name="old", model="m",
        provider="p", calls=4, cost=Decimal("0.5"),
        latency_hist=histogram.empty(), ttft_hist=histogram.empty(),
    )  # fmt: skip
    rollups_rebuild_all()
    rollups_rebuild_all()  # idempotent

    by_minute = {
        row.bucket_start: (row.calls, row.cost)
        for row in UsageRollup.objects.filter(granularity="minute", agent_name="CTO Agent")
    }
    assert by_minute == {
        T0 + timedelta(minutes=m): (1, Decimal("0.001") * (n + 1)) for n, m in enumerate(offsets)
    }
    survivor = UsageRollup.objects.get(granularity="minute", bucket_start=pruned_minute)
    assert (survivor.calls, survivor.cost) == (4, Decimal("0.5"))
    hours = {
        row.bucket_start: row.calls
        for row in UsageRollup.objects.filter(granularity="hour", agent_name="CTO Agent")
    }
    assert hours == {
        T0: 3,
        T0 + timedelta(hours=1): 1,
        T0 + timedelta(hours=3): 1,
        T0 + timedelta(hours=24): 1,
        T0 + timedelta(hours=72): 2,
    }
    total = sum(Decimal("0.001") * (n + 1) for n in range(len(offsets)))
    assert (
        sum(
            UsageRollup.objects.filter(granularity="hour", agent_name="CTO Agent").values_list(
                "cost", flat=True
            )
        )
        == total
    )
