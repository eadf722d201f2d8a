"""Dashboard selectors against known rollup rows and calls: exact sums and percentiles."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.http import QueryDict

from calls.models import LLMCall
from costs import usage, usage_series
from costs.selectors import month_forecast
from dashkit.filters import DashboardFilters, filters_parse
from llm_gateway import selectors as call_selectors
from tests.factories import LLMCallFactory, ValidationResultFactory
from tests.rollup_helpers import rollup_make
from validation import quality

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
H10 = datetime(2026, 3, 10, 10, tzinfo=UTC)
H11 = datetime(2026, 3, 10, 11, tzinfo=UTC)


def window(**kw) -> DashboardFilters:
    return DashboardFilters(range="custom", start=NOW - timedelta(hours=6), end=NOW, **kw)


# --- filters ------------------------------------------------------------------------


def test_preset_range_is_aligned_to_whole_rollup_buckets():
    f = filters_parse(QueryDict("range=24h"), now=NOW)
    assert f.start == datetime(2026, 3, 9, 12, tzinfo=UTC)
    assert f.granularity == "hour"
    assert filters_parse(QueryDict("range=1h"), now=NOW).granularity == "minute"


def test_bad_filter_values_fall_back_to_defaults():
    f = filters_parse(QueryDict("range=forever&status=nope&min_cost=-3&group=x"), now=NOW)
    assert (f.range, f.status, f.min_cost, f.group) == ("24h", "", None, "model")


def test_custom_range_reads_naive_times_as_utc():
    f = filters_parse(
        QueryDict("range=custom&start=2026-03-01T00:00&end=2026-03-02T00:00"), now=NOW
    )
    assert f.start == datetime(2026, 3, 1, tzinfo=UTC)
    assert f.bucket == timedelta(hours=1)
    assert "start=2026-03-01T00%3A00" in f.querystring()


def test_custom_range_with_end_before_start_falls_back():
    f = filters_parse(QueryDict("range=custom&start=2026-03-02T00:00&end=2026-03-01"), now=NOW)
    assert f.range == "24h"


def test_querystring_keeps_only_set_filters():
    f = filters_parse(QueryDict("range=7d&agent=CTO+Agent&min_cost=0.5"), now=NOW)
    assert f.querystring() == "range=7d&agent=CTO+Agent&min_cost=0.5"


# --- rollup selectors -----------------------------------------------------------------


def test_usage_totals_sum_rollups_exactly():
    rollup_make(bucket_start=H10, cost=Decimal("0.10"), errors=1, latencies=(100, 200))
    rollup_make(bucket_start=H11, cost=Decimal("0.25"), retries=2, latencies=(300,))
    totals = usage.window_totals(filters=window())
    assert (totals.calls, totals.errors, totals.retries) == (3, 1, 2)
    assert totals.cost == Decimal("0.35")
    assert totals.cost_per_1k_calls == Decimal("116.6667")


def test_p95_comes_from_the_merged_histogram():
    # 95 calls at 40 ms (bucket 25–50) and 5 at 900 ms: rank 95 is the last of the 40s.
    rollup_make(bucket_start=H10, latencies=(40,) * 95)
    rollup_make(bucket_start=H11, agent_name="b", latencies=(900,) * 5)
    assert usage.window_totals(filters=window()).p95_latency_ms == 50.0


def test_period_totals_add_the_raw_tail_after_the_last_rolled_up_hour():
    rollup_make(bucket_start=H10, cost=Decimal("1.00"), latencies=(100,))
    rollup_make(bucket_start=H11, cost=Decimal("9.00"), latencies=(100,))  # partial: read raw
    LLMCallFactory(created_at=H11 + timedelta(minutes=5), cost=Decimal("0.5"))
    LLMCallFactory(created_at=H11 + timedelta(minutes=50), cost=Decimal("0.25"))
    totals = usage.period_totals(start=H10, end=NOW)
    assert totals.cost == Decimal("1.75")
    assert totals.calls == 3


def test_period_totals_without_rollups_read_the_call_log():
    LLMCallFactory(created_at=H10, cost=Decimal("0.1234"), status="error")
    totals = usage.period_totals(start=H10, end=NOW)
    assert (totals.cost, totals.calls, totals.errors) == (Decimal("0.1234"), 1, 1)


def test_dimension_filters_narrow_the_rollups():
    rollup_make(bucket_start=H10, agent_name="a", cost=Decimal("1"), latencies=(1,))
    rollup_make(bucket_start=H10, agent_name="b", cost=Decimal("2"), latencies=(1,))
    assert usage.window_totals(filters=window(agent="b")).cost == Decimal("2")


def test_top_by_cost_ranks_by_spend():
    rollup_make(bucket_start=H10, agent_name="small", cost=Decimal("1"), latencies=(1,))
    rollup_make(bucket_start=H10, agent_name="big", cost=Decimal("5"), latencies=(1,))
    rollup_make(bucket_start=H11, agent_name="big", cost=Decimal("2"), latencies=(1,))
    top = usage_series.top_by_cost(filters=window(), dimension="agent")
    assert [(r.name, r.cost, r.calls) for r in top] == [
        ("big", Decimal("7"), 2),
        ("small", Decimal("1"), 1),
    ]


def test_unpriced_models_are_listed_with_their_calls():
    rollup_make(bucket_start=H10, model="new-model", unpriced_calls=4, latencies=(1,) * 4)
    rollup_make(bucket_start=H10, model="gpt-4o", latencies=(1,))
    assert usage_series.unpriced_models(filters=window()) == [("new-model", 4)]


def test_spend_series_stacks_per_group_and_folds_the_tail_into_other():
    for i, model in enumerate(["a", "b", "c"]):
        rollup_make(bucket_start=H10, model=model, cost=Decimal(i + 1), latencies=(1,))
    series = usage_series.spend_series(filters=window(), group_by="model", top=2)
    assert [s.name for s in series] == ["c", "b", "other"]
    index = series[0].x.index(H10)
    assert [s.y[index] for s in series] == [3.0, 2.0, 1.0]
    assert len(series[0].x) == 7  # 06:00 … 12:00, empty hours as zero
    assert series[0].y[0] == 0.0


def test_cumulative_spend_is_a_running_decimal_total():
    rollup_make(bucket_start=H10, cost=Decimal("0.1"), latencies=(1,))
    rollup_make(bucket_start=H11, cost=Decimal("0.2"), latencies=(1,))
    x, totals = usage_series.cumulative_spend(filters=window())
    assert totals[x.index(H11)] == Decimal("0.3")
    assert totals[-1] == Decimal("0.3")


def test_cost_per_1k_series_skips_buckets_without_calls():
    rollup_make(bucket_start=H10, cost=Decimal("0.5"), latencies=(1,) * 10)
    series = usage_series.cost_per_1k_series(filters=window())
    assert series.y[series.x.index(H10)] == 50.0
    assert series.y[series.x.index(H11)] is None


def test_month_forecast_extrapolates_the_pace():
    at = datetime(2026, 4, 16, tzinfo=UTC)  # exactly half of April
    assert month_forecast(spend=Decimal("10"), now=at) == Decimal("20.0000")


# --- performance selectors -------------------------------------------------------------


def test_percentile_series_per_bucket():
    rollup_make(bucket_start=H10, latencies=(40,) * 100, ttfts=(20,) * 4)
    series = call_selectors.percentile_series(filters=window(), field="latency_hist")
    by_name = {s.name: s for s in series}
    i = by_name["p50"].x.index(H10)
    assert by_name["p50"].y[i] == 37.5
    assert by_name["p99"].y[i] == pytest.approx(49.75)
    assert by_name["p50"].y[i + 1] is None
    ttft = call_selectors.percentile_series(filters=window(), field="ttft_hist")
    assert ttft[0].y[i] == 17.5


def test_throughput_separates_failed_calls():
    rollup_make(bucket_start=H10, errors=2, latencies=(1,) * 5)
    ok, failed = call_selectors.throughput_series(filters=window())
    i = ok.x.index(H10)
    assert (ok.y[i], failed.y[i]) == (3.0, 2.0)


def test_errors_by_type_sums_across_rows():
    rollup_make(bucket_start=H10, errors=3, error_types={"Timeout": 1, "RateLimit": 2})
    rollup_make(bucket_start=H11, errors=1, error_types={"Timeout": 1})
    assert call_selectors.errors_by_type(filters=window()) == [("RateLimit", 2), ("Timeout", 2)]


def test_provider_stats_give_error_rate_retries_and_failovers():
    rollup_make(bucket_start=H10, provider="openai", errors=1, retries=3, latencies=(1,) * 4)
    rollup_make(bucket_start=H10, provider="azure", fallbacks=2, latencies=(1,) * 2)
    stats = {s.provider: s for s in call_selectors.provider_stats(filters=window())}
    assert stats["openai"].error_pct == 25.0
    assert (stats["openai"].retries, stats["azure"].fallbacks) == (3, 2)


def test_provider_health_reports_circuit_state_without_key_values(settings):
    settings.OPENAI_API_KEY = ""
    health = call_selectors.provider_health()
    assert health
    assert {"provider", "status", "circuit", "api_key_env"} <= set(health[0])
    assert health[0]["circuit"] == "closed"


# --- request explorer ---------------------------------------------------------------------


def test_forged_cursor_starts_from_the_newest_call():
    assert call_selectors.cursor_decode("not-a-cursor!!") is None


def test_search_matches_error_text_and_call_id():
    hit = LLMCallFactory(created_at=H11, error_message="upstream exploded")
    LLMCallFactory(created_at=H11, agent_name="other")
    assert [c.id for c in call_selectors.call_page(filters=window(q="exploded")).calls] == [hit.id]
    assert [c.id for c in call_selectors.call_page(filters=window(q=str(hit.id))).calls] == [hit.id]


def test_search_is_case_insensitive_over_agent_model_and_error_columns():
    by_agent = LLMCallFactory(created_at=H11, agent_name="Timeout Watcher")
    by_model = LLMCallFactory(created_at=H11, model="ft:TIMEOUTS-v2")
    by_type = LLMCallFactory(created_at=H11, error_type="LLMTimeoutError")
    by_text = LLMCallFactory(created_at=H11, error_message="read timeOut after 30 s")
    LLMCallFactory(created_at=H11, agent_name="Support Bot", error_message="time out")
    found = {c.id for c in call_selectors.call_page(filters=window(q="timeout")).calls}
    assert found == {by_agent.id, by_model.id, by_type.id, by_text.id}


@pytest.mark.postgres
def test_rare_search_term_is_answered_from_the_trigram_indexes():
    """The GIN indexes (migration llm_gateway 0004) are on UPPER(col), the
    expression Django writes for icontains: if either side changes, the planner
    silently falls back to scanning the whole window, as it did for 5.9 s at 1 M."""
    from django.db import connection, transaction

    hit = LLMCallFactory(created_at=H11, error_message="quota exhausted upstream")
    LLMCall.objects.bulk_create(
        LLMCall(created_at=H10, agent_name=f"agent {i}", error_message="fine") for i in range(200)
    )
    page = call_selectors.call_page(filters=window(q="EXHAUSTED"))
    assert [c.id for c in page.calls] == [hit.id]
    # The search condition alone: with the window too, the planner may prefer
    # the created_at index for a table this small.
    searched = LLMCall.objects.filter(call_selectors._search("exhausted"))
    sql, params = searched.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        scanned = _parent_indexes(cursor, re.findall(r"Bitmap Index Scan on (\S+)", plan))
    for column in ("agent_name", "model", "error_type", "error_message"):
        assert f"llmcall_{column}_trgm" in scanned


def _parent_indexes(cursor, names: list[str]) -> set[str]:
    """The call log is partitioned by month: a plan names each partition's own copy
    of an index, whose parent is the index the migration created."""
    found = set(names)
    for name in names:
        cursor.execute(
            "SELECT inhparent::regclass::text FROM pg_inherits WHERE inhrelid = %s::regclass",
            [name],
        )
        found |= {row[0] for row in cursor.fetchall()}
    return found


def test_min_cost_and_validation_filters():
    cheap = LLMCallFactory(created_at=H11, cost=Decimal("0.001"))
    dear = LLMCallFactory(created_at=H11, cost=Decimal("0.5"))
    ValidationResultFactory(call=dear, is_valid=False, quality_score=0.2)
    page = call_selectors.call_page(filters=window(min_cost=Decimal("0.01")))
    assert [c.id for c in page.calls] == [dear.id]
    assert page.calls[0].validation_outcome is False
    unvalidated = call_selectors.call_page(filters=window(validation="unvalidated"))
    assert [c.id for c in unvalidated.calls] == [cheap.id]


# --- quality ---------------------------------------------------------------------------------


def _result(*, valid: bool, score: float, agent: str, at: datetime, failed: tuple = ()):
    call = LLMCallFactory(created_at=at, agent_name=agent)
    checks = [{"name": n, "family": f, "passed": False, "message": ""} for n, f in failed]
    return ValidationResultFactory(
        call=call,
        is_valid=valid,
        quality_score=score,
        checks=checks,
        failed_families=sorted({f for _, f in failed}),
        agent_name=agent,
        created_at=at,
    )


def test_quality_summary_and_series():
    _result(valid=True, score=1.0, agent="a", at=H10)
    _result(valid=False, score=0.5, agent="a", at=H10 + timedelta(minutes=1))
    _result(valid=True, score=0.9, agent="b", at=H11)
    summary = quality.quality_summary(start=H10, end=NOW)
    assert (summary.validated, summary.valid) == (3, 2)
    assert summary.mean_score == pytest.approx(0.8)
    rate, score = quality.quality_series(filters=window())
    i = rate.x.index(H10)
    assert rate.y[i] == 0.5
    assert score.y[i] == pytest.approx(0.75)
    by_agent = {a.agent: a.summary for a in quality.quality_by_agent(filters=window())}
    assert by_agent["a"].pass_rate_pct == 50.0


def test_failure_breakdown_counts_families_and_rules():
    _result(
        valid=False, score=0.3, agent="a", at=H10, failed=(("pii", "safety"), ("len", "quality"))
    )
    _result(valid=False, score=0.3, agent="a", at=H11, failed=(("pii", "safety"),))
    breakdown = quality.failure_breakdown(filters=window())
    assert breakdown.families == [("safety", 2), ("quality", 1)]
    assert breakdown.rules[0] == ("pii", "safety", 2)


# --- live tail and caches -------------------------------------------------------------------


def test_period_totals_read_raw_only_the_calls_after_the_rollup_cursor():
    from costs.models import RollupCursor
    from costs.rollups import CURSOR

    rollup_make(bucket_start=H10, cost=Decimal("1.00"), latencies=(100,))
    rollup_make(bucket_start=H11, cost=Decimal("9.00"), latencies=(100,) * 3)  # ignored: split
    for minute, cost in ((5, "0.5"), (19, "0.25")):
        rollup_make(
            bucket_start=H11 + timedelta(minutes=minute),
            granularity="minute",
            cost=Decimal(cost),
            latencies=(100,),
        )
    RollupCursor.objects.create(name=CURSOR, position=H11 + timedelta(minutes=20, seconds=30))
    # Already in the minute rollups: must not be counted twice.
    LLMCallFactory(created_at=H11 + timedelta(minutes=5), cost=Decimal("100"))
    LLMCallFactory(created_at=H11 + timedelta(minutes=21), cost=Decimal("0.125"))
    totals = usage.period_totals(start=H10, end=NOW)
    assert totals.cost == Decimal("1.875")
    assert totals.calls == 4


def test_period_totals_use_minute_rollups_for_a_start_off_the_hour():
    rollup_make(bucket_start=H10, cost=Decimal("5"), latencies=(1,))  # before the start
    rollup_make(
        bucket_start=H10 + timedelta(minutes=40),
        granularity="minute",
        cost=Decimal("0.75"),
        latencies=(1,),
    )
    rollup_make(bucket_start=H11, cost=Decimal("2"), latencies=(1,))  # newest hour: read raw
    totals = usage.period_totals(start=H10 + timedelta(minutes=30), end=NOW)
    assert totals.cost == Decimal("0.75")


def test_recommendations_are_computed_once_per_window(monkeypatch):
    from costs import views

    seen = []

    def fake(*, start, end):
        seen.append((start, end))
        return ["advice"]

    monkeypatch.setattr(views, "recommendations_for", fake)
    start = NOW - timedelta(days=30)
    assert views.recommendations_cached(start=start, end=NOW) == ["advice"]
    assert views.recommendations_cached(start=start, end=NOW + timedelta(seconds=20)) == ["advice"]
    assert seen == [(start, datetime(2026, 3, 10, 12, 30, tzinfo=UTC))]
    views.recommendations_cached(start=start - timedelta(hours=1), end=NOW)
    assert len(seen) == 2


def test_long_window_sections_are_cached_and_short_ones_stay_live(settings):
    from dashkit.rendering import Section, section_context

    built = []
    section = Section("unused.html", lambda f: built.append(f) or {"n": len(built)}, True)
    long_window = DashboardFilters(range="30d", start=NOW - timedelta(days=30), end=NOW)
    assert section_context("s", section, long_window) == {"n": 1}
    assert section_context("s", section, long_window) == {"n": 1}
    assert section_context("s", section, window()) == {"n": 2}
    assert section_context("s", section, window()) == {"n": 3}
    live = Section("unused.html", lambda f: built.append(f) or {"n": len(built)})
    assert section_context("s", live, long_window) == {"n": 4}


def test_keyset_pages_walk_calls_sharing_a_timestamp_exactly_once():
    same = H11 + timedelta(minutes=1)
    ids = {LLMCallFactory(created_at=same).id for _ in range(7)}
    ids.add(LLMCallFactory(created_at=H11).id)
    seen, after = [], ""
    while True:
        page = call_selectors.call_page(filters=window(), after=after, size=3)
        seen += [c.id for c in page.calls]
        if not page.next_cursor:
            break
        after = page.next_cursor
    assert len(seen) == 8
    assert set(seen) == ids


def test_period_totals_without_latency_keep_every_sum():
    rollup_make(bucket_start=H10, cost=Decimal("1.00"), errors=1, latencies=(100, 200))
    rollup_make(bucket_start=H11, cost=Decimal("9.00"), latencies=(100,))  # newest: read raw
    LLMCallFactory(created_at=H11 + timedelta(minutes=5), cost=Decimal("0.5"))
    totals = usage.period_totals(start=H10, end=NOW, latency=False)
    assert (totals.cost, totals.calls, totals.errors) == (Decimal("1.5"), 3, 1)
    assert totals.p95_latency_ms is None
