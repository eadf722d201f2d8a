"""Rate limits an agent can see (x-ratelimit-* headers), and refusals in the call log:
one row at $0 each, sampled under a flood, counted on the dashboards."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from decimal import Decimal

import openai
import pytest
from asgiref.sync import async_to_sync
from django.db.models import Sum
from django.utils import timezone

from calls.models import GatewayKey, LLMCall
from costs.rollups import rollups_update
from llm_gateway.refusals import Refusal, refusal_record, refusals_flush

pytestmark = pytest.mark.django_db(transaction=True)

ASK = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
DURATION = re.compile(r"^(?:[1-9]\d*s|1m0s)$")  # OpenAI's reset format within a minute


def client_for(live_gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=live_gateway.base_url, api_key=key, max_retries=0)


def avoid_minute_edge() -> None:
    """Limits count per fixed minute; run a limit test well inside one."""
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


def test_every_answer_of_a_limited_key_carries_openai_ratelimit_headers(
    live_gateway, upstream, make_key
):
    avoid_minute_edge()
    client = client_for(live_gateway, make_key(rpm_limit=5, tpm_limit=10_000))
    first = client.chat.completions.with_raw_response.create(**ASK)
    spent = first.parse().usage.total_tokens
    second = client.chat.completions.with_raw_response.create(**ASK, stream=True)
    list(second.parse())  # consume the stream
    for raw, requests_left, tokens_left in ((first, 4, 10_000), (second, 3, 10_000 - spent)):
        headers = raw.headers
        assert headers["x-ratelimit-limit-requests"] == "5"
        assert headers["x-ratelimit-remaining-requests"] == str(requests_left)
        assert headers["x-ratelimit-limit-tokens"] == "10000"
        assert headers["x-ratelimit-remaining-tokens"] == str(tokens_left)
        assert DURATION.match(headers["x-ratelimit-reset-requests"])
        assert DURATION.match(headers["x-ratelimit-reset-tokens"])


def test_a_key_without_limits_gets_no_ratelimit_headers(live_gateway, upstream, make_key):
    raw = client_for(live_gateway, make_key()).chat.completions.with_raw_response.create(**ASK)
    assert not [name for name in raw.headers if name.startswith("x-ratelimit-")]


def test_a_rate_limited_call_is_one_row_at_zero_with_its_status(live_gateway, upstream, make_key):
    avoid_minute_edge()
    client = client_for(live_gateway, make_key("eager", rpm_limit=1))
    client.chat.completions.create(**ASK)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(**ASK)
    assert caught.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert DURATION.match(caught.value.response.headers["x-ratelimit-reset-requests"])
    refused = LLMCall.objects.get(status="rate_limited")
    assert (refused.agent_name, refused.model, refused.operation) == (
        "eager",
        "gpt-4o-mini",
        "chat",
    )
    assert (refused.cost, refused.http_status, refused.occurrences) == (Decimal(0), 429, 1)
    assert refused.key_prefix == GatewayKey.objects.get().prefix
    assert len(upstream.chat_calls) == 1


def test_a_wrong_secret_for_a_real_prefix_leaves_an_unauthorized_row(
    live_gateway, upstream, make_key
):
    real = make_key("victim")
    prefix = GatewayKey.objects.get().prefix
    forged = prefix + "_" + "A" * 43
    assert forged != real
    with pytest.raises(openai.AuthenticationError):
        client_for(live_gateway, forged).chat.completions.create(**ASK)
    with pytest.raises(openai.AuthenticationError):
        client_for(live_gateway, "gw_00000000_" + "B" * 43).chat.completions.create(**ASK)
    (row,) = LLMCall.objects.all()  # the unknown prefix left nothing
    assert (row.status, row.key_prefix, row.agent_name) == ("unauthorized", prefix, "victim")
    assert (row.cost, row.http_status) == (Decimal(0), 401)
    assert upstream.chat_calls == []


def test_a_revoked_key_still_in_use_is_recorded_as_unauthorized(live_gateway, upstream, make_key):
    key = make_key("retired")
    GatewayKey.objects.update(revoked_at=timezone.now())
    with pytest.raises(openai.AuthenticationError):
        client_for(live_gateway, key).models.list()
    row = LLMCall.objects.get()
    assert (row.status, row.agent_name, row.operation) == ("unauthorized", "retired", "models")


def refusal(prefix: str) -> Refusal:
    return Refusal(
        status="rate_limited",
        http_status=429,
        code="rate_limit_exceeded",
        message="Rate limit reached.",
        key_id=None,
        key_prefix=prefix,
        agent_name="flooder",
        model="gpt-4o-mini",
    )


def test_a_flood_of_refusals_is_sampled_and_the_rest_aggregated(settings):
    settings.GATEWAY_REFUSAL_ROWS_PER_SECOND = 2
    time.sleep(1 - time.time() % 1)  # start at the top of a second

    async def flood() -> None:
        for _ in range(30):
            await refusal_record(refusal("gw_flood001"))
        await refusals_flush()

    async_to_sync(flood)()
    rows = LLMCall.objects.filter(key_prefix="gw_flood001")
    assert rows.aggregate(n=Sum("occurrences"))["n"] == 30  # every refusal is counted
    assert rows.count() <= 6  # but only a sample (+ one row per second) is stored
    aggregated = rows.filter(occurrences__gt=1)
    assert aggregated.exists()
    assert all(row.metadata["aggregated"] for row in aggregated)


def test_refusals_are_counted_on_the_dashboards(settings, staff_client):
    settings.GATEWAY_REFUSAL_ROWS_PER_SECOND = 1

    async def refuse() -> None:
        for _ in range(4):
            await refusal_record(refusal("gw_dash0001"))
        await refusals_flush()

    async_to_sync(refuse)()
    rollups_update(now=timezone.now() + timedelta(minutes=5))
    page = staff_client.get("/performance/", {"range": "1h"}).content.decode()
    assert 'status=rate_limited">4 rate limited</a>' in page
    ids = [str(row.id) for row in LLMCall.objects.filter(key_prefix="gw_dash0001")]
    listed = staff_client.get("/requests/", {"range": "1h", "status": "rate_limited"})
    succeeded = staff_client.get("/requests/", {"range": "1h", "status": "success"})
    assert all(i in listed.content.decode() for i in ids)
    assert not any(i in succeeded.content.decode() for i in ids)
