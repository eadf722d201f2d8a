"""Upstream faults through the live gateway: 429 storms, 500 bursts, resets mid-stream, hangs.

The fake OpenAI server is a real HTTP server on 127.0.0.1 and the gateway a
real uvicorn server; traffic is bounded (a few dozen calls) and so is every
wait. After each storm the books must balance: calls sent = calls recorded,
no call recorded twice, and log, rollups and budget agree on the cost.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from tests.ledger import books, report, send_calls

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def watched_budget(db):
    """A global alert budget far above the test's spend: its spend is one more ledger."""
    from costs.budgets import budget_create

    return budget_create(name="fault watch", amount="1000", period="monthly")


def _drive(live_gateway, key: str, tag: str, **options):
    return asyncio.run(send_calls(live_gateway.url, key, tag=tag, **options))


def test_a_429_storm_with_retry_after_is_retried_and_every_call_recorded_once(
    live_gateway, upstream, prices, make_key, watched_budget, settings
):
    settings.LLM_MAX_RETRIES = 3
    upstream.fail_next(40, 429, retry_after="0")
    traffic = _drive(live_gateway, make_key("storm"), "storm", count=40, concurrency=10)
    ledger = books(tag="storm", budget=watched_budget)
    report("429_storm", traffic, ledger, upstream_requests=len(upstream.chat_calls))
    assert traffic.non_openai_errors == []
    assert traffic.statuses[200] >= 1 and set(traffic.statuses) <= {200, 429}
    assert len(upstream.chat_calls) == 40 + traffic.statuses[200]  # every failure was retried
    assert ledger.recorded == traffic.sent and ledger.duplicates == 0 and ledger.unmarked == 0
    assert ledger.balanced
    from calls.models import LLMCall

    assert sum(LLMCall.objects.values_list("retries", flat=True)) >= 1


def test_500_bursts_fail_over_to_retries_and_the_books_balance(
    live_gateway, upstream, prices, make_key, watched_budget, settings
):
    settings.LLM_MAX_RETRIES = 2
    traffic_total = None
    for burst in range(3):  # three bursts of failures, each followed by traffic
        upstream.fail_next(15, 500)
        traffic = _drive(
            live_gateway, make_key(f"burst{burst}"), f"burst{burst}", count=20, concurrency=10
        )
        traffic_total = traffic if traffic_total is None else _merge(traffic_total, traffic)
    ledger = books(tag="burst", budget=watched_budget)
    report("500_bursts", traffic_total, ledger)
    assert traffic_total.non_openai_errors == []
    assert set(traffic_total.statuses) <= {200, 502}
    assert ledger.recorded == traffic_total.sent == 60
    assert ledger.duplicates == 0 and ledger.balanced


def _merge(a, b):
    a.sent += b.sent
    a.statuses.update(b.statuses)
    a.non_openai_errors += b.non_openai_errors
    a.seconds += b.seconds
    return a


def test_streams_reset_mid_way_are_recorded_once_with_what_was_streamed(
    live_gateway, upstream, prices, make_key, watched_budget
):
    from calls.models import LLMCall

    upstream.reply = "one two three four five six seven eight nine ten"
    upstream.reset_stream_after = 3
    traffic = _drive(
        live_gateway, make_key("reset"), "reset", count=20, concurrency=5, stream_every=1
    )
    ledger = books(tag="reset", budget=watched_budget)
    report("stream_reset", traffic, ledger)
    assert ledger.recorded == traffic.sent == 20 and ledger.duplicates == 0
    calls = list(LLMCall.objects.all())
    assert all(call.stream and call.status == "error" for call in calls)
    # Cut streams are still charged for the tokens that were streamed.
    assert all(call.completion_tokens > 0 and call.cost > Decimal(0) for call in calls)
    assert ledger.balanced


def test_a_hanging_upstream_times_out_with_504_and_is_recorded(
    live_gateway, upstream, prices, make_key, watched_budget, settings
):
    settings.LLM_TIMEOUT = 1.0
    settings.LLM_MAX_RETRIES = 1
    upstream.hang = 30
    traffic = _drive(live_gateway, make_key("hang"), "hang", count=6, concurrency=6, timeout=20)
    ledger = books(tag="hang", budget=watched_budget)
    report("upstream_hang", traffic, ledger)
    assert traffic.non_openai_errors == []
    assert traffic.statuses == {504: 6}
    assert ledger.recorded == 6 and ledger.duplicates == 0 and ledger.balanced
