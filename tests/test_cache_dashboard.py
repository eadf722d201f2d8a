"""Response cache data for dashboards and advice, and the admin purge actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync

from calls.models import LLMCall
from costs.recommendations import recommendations_for
from costs.rollups import rollups_rebuild
from llm_gateway.cache import response_cache
from llm_gateway.cache_selectors import cache_savings_series, cache_totals
from llm_gateway.cache_store import CachedAnswer
from llm_gateway.keys import gateway_key_create

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def call(at: datetime, *, agent: str = "Echo", hit: bool = False, **fields) -> LLMCall:
    values = {
        "agent_name": agent,
        "model": "gpt-4o-mini",
        "provider": "cache" if hit else "openai",
        "cache_hit": hit,
        "cost": Decimal(0) if hit else Decimal("0.002"),
        "saved_cost": Decimal("0.002") if hit else Decimal(0),
    }
    values.update(fields)
    return LLMCall.objects.create(created_at=at, recorded_at=at, **values)


def test_the_savings_series_has_every_bucket_with_hits_and_money_saved():
    call(T0 + timedelta(minutes=5))
    call(T0 + timedelta(minutes=6), hit=True)
    call(T0 + timedelta(minutes=7), hit=True)
    call(T0 + timedelta(hours=2), hit=True)
    rollups_rebuild(start=T0, end=T0 + timedelta(hours=3))
    series = cache_savings_series(start=T0, end=T0 + timedelta(hours=3), bucket="hour")
    assert series["bucket"] == "hour"
    assert [p["start"] for p in series["points"]] == [
        (T0 + timedelta(hours=h)).isoformat() for h in range(3)
    ]
    first, empty, last = series["points"]
    assert (first["calls"], first["cache_hits"], first["hit_rate"]) == (3, 2, 0.6667)
    assert Decimal(first["saved_cost"]) == Decimal("0.004")
    assert Decimal(first["cost"]) == Decimal("0.002")
    assert (empty["calls"], Decimal(empty["saved_cost"])) == (0, 0)
    assert (last["cache_hits"], last["hit_rate"]) == (1, 1.0)


def test_daily_buckets_fold_the_hours_of_each_utc_day():
    call(T0, hit=True)
    call(T0 + timedelta(hours=5))
    rollups_rebuild(start=T0, end=T0 + timedelta(hours=6))
    day = T0.replace(hour=0)
    series = cache_savings_series(start=day, end=day + timedelta(days=2), bucket="day")
    assert [(p["calls"], p["cache_hits"]) for p in series["points"]] == [(2, 1), (0, 0)]


def test_cache_totals_rank_agents_by_money_saved():
    call(T0, agent="Echo", hit=True)
    call(T0, agent="Echo", hit=True)
    call(T0, agent="Quiet")
    rollups_rebuild(start=T0, end=T0 + timedelta(hours=1))
    totals = cache_totals(start=T0, end=T0 + timedelta(hours=1))
    assert (totals["calls"], totals["cache_hits"], Decimal(totals["saved_cost"])) == (
        3,
        2,
        Decimal("0.004"),
    )
    assert [a["agent"] for a in totals["by_agent"]] == ["Echo", "Quiet"]
    assert totals["by_agent"][0]["hit_rate"] == 1.0


def test_repeated_prompts_are_advised_with_a_link_to_the_agents_key():
    _, key = gateway_key_create(name="echo key", agent_name="Echo")
    for i in range(30):  # 20 repeats of one request, 10 distinct ones
        body = {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "user", "content": "same question" if i < 21 else f"question {i}"}
            ],
        }
        call(T0 + timedelta(minutes=i), request_body=body)
    rollups_rebuild(start=T0, end=T0 + timedelta(hours=1))
    advice = recommendations_for(start=T0, end=T0 + timedelta(hours=1))
    repeated = [r for r in advice if r.kind == "repeated_prompts"]
    assert len(repeated) == 1
    assert repeated[0].agent == "Echo" and "20 repeated" in repeated[0].title
    assert repeated[0].link == f"/admin/llm_gateway/gatewaykey/{key.pk}/change/#id_cache_mode"
    assert repeated[0].monthly_saving > 0


def test_agents_without_repeats_get_no_cache_advice():
    for i in range(30):
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]}
        call(T0 + timedelta(minutes=i), request_body=body)
    rollups_rebuild(start=T0, end=T0 + timedelta(hours=1))
    advice = recommendations_for(start=T0, end=T0 + timedelta(hours=1))
    assert not [r for r in advice if r.kind == "repeated_prompts"]


def stored(text: str) -> CachedAnswer:
    completion = {"object": "chat.completion", "choices": [{"message": {"content": text}}]}
    return CachedAnswer(completion, "gpt-4o", "openai", "openai", 1, 1, 0, "stop", "id", "t")


def test_the_admin_purges_cached_answers_by_model_and_by_agent(admin_client):
    cache = response_cache()
    put, get = async_to_sync(cache.put), async_to_sync(cache.get)
    put("k-4o", stored("a"), ttl=60, agent="Echo", models={"gpt-4o"})
    put("k-mini", stored("b"), ttl=60, agent="Echo", models={"gpt-4o-mini"})
    put("k-other", stored("c"), ttl=60, agent="Other", models={"gpt-4o-mini"})
    row = call(T0, model="gpt-4o", requested_model="gpt-4o")
    admin_client.post(
        "/admin/llm_gateway/llmcall/",
        {"action": "purge_cache_for_models", "_selected_action": [str(row.pk)]},
    )
    assert get("k-4o") is None and get("k-mini") is not None
    _, key = gateway_key_create(name="echo", agent_name="Echo")
    admin_client.post(
        "/admin/llm_gateway/gatewaykey/",
        {"action": "purge_cache", "_selected_action": [str(key.pk)]},
    )
    assert get("k-mini") is None and get("k-other") is not None
