"""Soak: 10 000 mixed calls through a live gateway process with budgets and validation on.

Streaming and not, some failing at the provider, one key running into a
blocking budget. Afterwards the books balance to the stored decimal place:
the sum of LLMCall costs = the minute rollups = the hour rollups = the
budget's spend, every call sent is recorded once, and the blocked key's
overshoot (spend beyond its budget, the price of cached budget decisions)
is printed with the other figures.
"""

from __future__ import annotations

import asyncio

import pytest
from django.conf import settings

from tests.faults import database_url, start_gateway, wait_until
from tests.ledger import books, report, send_calls

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CALLS = 10_000
CAPPED_CALLS = 500
PROVIDER_FAILURES = 300  # answered 400 by the provider: recorded as errors, not retried


def _validated() -> int:
    from validation.models import ValidationResult

    return ValidationResult.objects.filter(call__gateway_key__agent_name="soak-agent").count()


def _validatable() -> int:
    from calls.models import LLMCall

    calls = LLMCall.objects.filter(gateway_key__agent_name="soak-agent", stream=False)
    return calls.filter(status="success").count()


def test_ten_thousand_mixed_calls_keep_log_rollups_and_budgets_equal(
    upstream, prices, make_key, tmp_path
):
    from calls.models import GatewayKey, LLMCall
    from costs.budgets import budget_create
    from costs.selectors import budget_spend

    watched = budget_create(name="soak watch", amount="100000")
    key = make_key("soak-agent", validate_responses=True)
    capped_key = make_key("soak-capped")
    capped = budget_create(
        name="soak cap",
        amount="0.001",
        scope="key",
        gateway_key_id=GatewayKey.objects.get(agent_name="soak-capped").id,
        action="block",
    )
    upstream.fail_next(PROVIDER_FAILURES, 400, message="Invalid request (soak)")
    gateway = None
    try:
        gateway, url = start_gateway(
            tmp_path,
            OPENAI_API_KEY="sk-upstream-secret-0123456789abcdef",
            OPENAI_BASE_URL=upstream.base_url,
            LLM_MOCK_FALLBACK="false",
            SECRET_KEY=settings.SECRET_KEY,
            REDIS_URL=settings.REDIS_URL,
            CELERY_BROKER_URL="",
            DATABASE_URL=database_url(),
            BUDGET_CHECK_CACHE_SECONDS="1",
            LOG_LEVEL="ERROR",
        )

        async def both():
            return await asyncio.gather(
                send_calls(url, key, count=CALLS, concurrency=45, tag="soak", stream_every=3),
                send_calls(url, capped_key, count=CAPPED_CALLS, concurrency=5, tag="soak-cap"),
            )

        traffic, capped_traffic = asyncio.run(both())
        # Validation runs in the background after each answer: let it finish.
        wait_until(lambda: _validated() == _validatable(), timeout=60, interval=0.5)
    finally:
        if gateway is not None:
            gateway.stop()
    ledger = books(tag="soak", budget=watched)
    capped_spend = budget_spend(budget=capped).spend
    overshoot = max(capped_spend - capped.amount, 0)
    sent = traffic.sent + capped_traffic.sent
    refused = capped_traffic.statuses[429]
    report(
        "soak",
        traffic,
        ledger,
        sent_total=sent,
        capped_statuses={str(k): v for k, v in capped_traffic.statuses.items()},
        overshoot=str(overshoot),
        calls_per_second=round(sent / max(traffic.seconds, 0.001), 1),
        validations=_validated(),
    )
    assert traffic.non_openai_errors == [] and capped_traffic.non_openai_errors == []
    assert set(traffic.statuses) <= {200, 400}
    # Both keys' calls draw from the provider's one failure queue.
    assert traffic.statuses[400] + capped_traffic.statuses[400] == PROVIDER_FAILURES
    # Budget refusals are recorded too (status "blocked", cost 0): every call has its row.
    assert ledger.recorded == sent and ledger.duplicates == 0 and ledger.unmarked == 0
    assert LLMCall.objects.filter(status="blocked").count() == refused > 0
    assert ledger.balanced, ledger
    # Async validation of every successful non-stream call of the validating key.
    assert _validated() == _validatable() > 0
