"""One truth across processes: three gateway servers on one PostgreSQL and one Redis.

Three ``manage.py serve`` processes on their own ports stand for three hosts
behind a load balancer; the test drives them in parallel and checks that every
promise one process makes holds for the three together: a key's RPM and TPM,
a block budget, the response cache and its single flight, admin edits, and
circuit breakers. The servers start once for the module (they take seconds);
each test uses fresh keys, models and providers, and starts by telling the
servers to drop whatever they cached of the previous test's rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from django.urls import get_resolver
from django.utils import timezone

from calls.models import GatewayKey, LLMCall, Provider
from common.cache import process_caches
from common.tokens import estimate_prompt_tokens
from costs.models import Budget, ModelPrice
from llm_gateway.keys import gateway_key_create, key_prefix_of
from llm_gateway.process_bus import process_bus
from tests.fake_openai import FakeOpenAI
from tests.faults import PYTHON, Process, child_env, free_port, upstream_env, wait_until

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

PROCESSES = 3
# Well under the 5 s every per-process cache keeps a row: an edit seen this fast
# everywhere came through Redis, not through a cache running out.
BUS_WINDOW_S = 2.5


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[FakeOpenAI, FakeOpenAI]]:
    first, second = FakeOpenAI().start(), FakeOpenAI().start()
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture(scope="module")
def gateways(django_db_setup, django_db_blocker, upstreams, tmp_path_factory) -> Iterator[list]:
    env = upstream_env(
        upstreams[0],
        LLM_MAX_RETRIES="0",
        LLM_CIRCUIT_FAILURES="2",
        LLM_CIRCUIT_COOLDOWN="60",
        LOG_LEVEL="WARNING",
    )
    processes, urls = [], []
    try:
        for index in range(PROCESSES):  # started together: each takes seconds to import
            port = free_port()
            directory = tmp_path_factory.mktemp(f"gw{index}")
            argv = [PYTHON, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)]
            spool = {"GATEWAY_SPOOL_DIR": str(directory / "spool")}
            log = directory / "gateway.log"
            processes.append(Process(argv, child_env(**env, **spool), log))
            urls.append(f"http://127.0.0.1:{port}")
        get_resolver().url_patterns  # noqa: B018 - the admin's first page imports every view
        for process in processes:
            assert process.wait_for_output("Uvicorn running on", timeout=60), process.output()
        yield urls
    finally:
        for process in processes:  # all told at once: each drains its writer on the way out
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.stop()


@pytest.fixture(autouse=True)
def _fresh(gateways, upstreams):
    """The previous test's rows were truncated (no signal): the servers forget them."""
    bus = process_bus()
    assert bus is not None, "REDIS_URL is set, so the test process publishes too"
    for cache in process_caches():
        cache.invalidate()
    bus.flush()
    for upstream in upstreams:
        upstream.reset()
    yield
    # The servers write records (and settle budgets) just after answering: let them
    # finish before the database is truncated, or the truncation meets their locks.
    wait_until(_records_settled, timeout=15, interval=0)


def _records_settled() -> bool:
    before = LLMCall.objects.count()
    time.sleep(0.5)
    return LLMCall.objects.count() == before


def _key(**limits) -> str:
    raw, _ = gateway_key_create(name=f"scale {uuid.uuid4().hex[:6]}", agent_name="scale", **limits)
    return raw


async def _chat(url: str, key: str, content: str, **body) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await client.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]}
            | body,
            headers={"Authorization": f"Bearer {key}"},
        )


async def _spread(gateways: list[str], key: str, count: int, **body) -> list[httpx.Response]:
    """``count`` calls at once, dealt round-robin to the servers."""
    return await asyncio.gather(
        *(
            _chat(gateways[i % len(gateways)], key, f"Say hello number {i}", **body)
            for i in range(count)
        )
    )


def _same_minute(margin: float = 4.0) -> None:
    """Counters are per minute: start a burst where it cannot straddle two."""
    into = time.time() % 60
    if into > 60 - margin:
        time.sleep(60 - into + 0.2)


def _price(model: str, per_m: str, kind: str = "openai") -> ModelPrice:
    return ModelPrice.objects.create(
        provider=kind,
        model=model,
        input_per_m=Decimal(per_m),
        output_per_m=Decimal(per_m),
        effective_from=timezone.now() - timezone.timedelta(days=1),
    )


def _everywhere_within(gateways: list[str], check, seconds: float) -> float:
    """Seconds until ``check(url)`` holds on every server (polled), or ``inf``."""
    started = time.monotonic()
    pending = set(gateways)
    while pending and time.monotonic() - started < seconds:
        pending = {url for url in pending if not check(url)}
        if pending:
            time.sleep(0.05)
    return time.monotonic() - started if not pending else float("inf")


# --- rate limits ----------------------------------------------------------------------------


def test_a_keys_rpm_admits_exactly_the_limit_across_three_processes(gateways):
    key = _key(rpm_limit=12)
    _same_minute()
    responses = asyncio.run(_spread(gateways, key, 30))
    codes = [r.status_code for r in responses]
    assert codes.count(200) == 12, codes
    assert codes.count(429) == 18
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 429} == {
        "rate_limit_exceeded"
    }


def test_a_keys_tpm_admits_at_most_one_request_past_the_limit_across_three_processes(
    gateways, upstreams
):
    upstreams[0].latency = 0.2  # every call is still in flight when the others are admitted
    key = _key(tpm_limit=200)
    _same_minute()
    responses = asyncio.run(_spread(gateways, key, 24, max_tokens=20))
    admitted = [r.json()["usage"]["total_tokens"] for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert admitted and refused
    assert sum(admitted) <= 200 + max(admitted), (sum(admitted), admitted)
    assert {r.json()["error"]["type"] for r in refused} == {"tokens"}


# --- budgets --------------------------------------------------------------------------------


def test_a_block_budget_is_overrun_by_at_most_one_reservation_per_process(gateways, upstreams):
    upstreams[0].latency = 0.2
    model = f"scale-{uuid.uuid4().hex[:6]}"
    _price(model, "1000")  # $0.001 a token: a reservation is a few cents
    raw = _key()
    amount = Decimal("0.2")
    Budget.objects.create(
        name="scale", scope="key", scope_value=key_prefix_of(raw), amount=amount, action="block"
    )
    responses = asyncio.run(_spread(gateways, raw, 24, model=model, max_tokens=20))
    served = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert served and refused
    assert {r.json()["error"]["code"] for r in refused} == {"budget_exceeded"}
    spent = sum(Decimal(r.headers["x-gateway-cost-usd"]) for r in served)
    # The worst case a call reserves: its estimated prompt plus max_tokens, at the price.
    prompt = estimate_prompt_tokens([{"role": "user", "content": "Say hello number 35"}])
    reservation = Decimal("0.001") * (prompt + 20)
    assert spent <= amount + PROCESSES * reservation, (spent, len(served))


# --- response cache -------------------------------------------------------------------------


def test_an_answer_cached_by_one_process_is_a_hit_on_the_others(gateways, upstreams):
    key = _key()
    first = asyncio.run(_chat(gateways[0], key, "What is cached?", temperature=0))
    assert first.headers["x-gateway-cache"] == "miss"
    others = [asyncio.run(_chat(url, key, "What is cached?", temperature=0)) for url in gateways]
    assert [r.headers["x-gateway-cache"] for r in others] == ["hit"] * PROCESSES
    assert {r.json()["choices"][0]["message"]["content"] for r in [first, *others]} == {
        first.json()["choices"][0]["message"]["content"]
    }
    assert len(upstreams[0].chat_calls) == 1


def test_identical_concurrent_misses_on_three_processes_make_one_upstream_call(gateways, upstreams):
    upstreams[0].latency = 0.5
    key = _key()

    async def burst() -> list[httpx.Response]:
        return await asyncio.gather(
            *(
                _chat(gateways[i % PROCESSES], key, "One flight only", temperature=0)
                for i in range(3 * PROCESSES)
            )
        )

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * (3 * PROCESSES)
    assert len(upstreams[0].chat_calls) == 1
    assert sorted(r.headers["x-gateway-cache"] for r in responses).count("miss") == 1


# --- admin edits ----------------------------------------------------------------------------


def _status(url: str, key: str, **body) -> int:
    return asyncio.run(_chat(url, key, "still there?", **body)).status_code


def test_admin_edits_reach_every_process_within_seconds(gateways, upstreams, admin_client):
    """A key revoked, a budget lowered, a price raised and a provider moved, each
    made once (the admin's own code: its action, or a model save as its form
    does) and seen by the three servers well within their 5 s caches."""
    first, second = upstreams
    model = f"scale-{uuid.uuid4().hex[:6]}"
    prices = [_price(model, "1", kind) for kind in ("openai", "openai_compatible")]
    provider = Provider.objects.create(
        name=f"edited-{model}", kind="openai_compatible", base_url=first.base_url, models=["*"]
    )
    budget = Budget.objects.create(
        name="edit", scope="model", scope_value=model, amount=Decimal("100"), action="block"
    )
    raw, other = _key(), _key()
    calls = {url: asyncio.run(_chat(url, raw, "warm", model=model)) for url in gateways}
    assert [r.status_code for r in calls.values()] == [200] * PROCESSES  # all cached everywhere
    assert {_status(url, other, model=model) for url in gateways} == {200}
    cost_before = {url: Decimal(r.headers["x-gateway-cost-usd"]) for url, r in calls.items()}
    assert len(first.chat_calls) == 2 * PROCESSES and not second.chat_calls

    key = GatewayKey.objects.get(prefix=key_prefix_of(raw))
    response = admin_client.post(
        "/admin/llm_gateway/gatewaykey/", {"action": "revoke", "_selected_action": [key.pk]}
    )
    assert response.status_code == 302
    took = _everywhere_within(gateways, lambda url: _status(url, raw, model=model) == 401, 5.0)
    assert took <= BUS_WINDOW_S, f"revocation took {took} s"

    for price in prices:
        price.input_per_m = price.output_per_m = Decimal("1000")
        price.save()

    def repriced(url: str) -> bool:
        response = asyncio.run(_chat(url, other, "warm", model=model))
        return Decimal(response.headers["x-gateway-cost-usd"]) >= cost_before[url] * 500

    took = _everywhere_within(gateways, repriced, 5.0)
    assert took <= BUS_WINDOW_S, f"the price edit took {took} s"

    provider.base_url = second.base_url
    provider.save()

    def served_by_second(url: str) -> bool:
        before = len(second.chat_calls)
        return _status(url, other, model=model) == 200 and len(second.chat_calls) > before

    took = _everywhere_within(gateways, served_by_second, 5.0)
    assert took <= BUS_WINDOW_S, f"the provider edit took {took} s"

    budget.amount = Decimal("0.0001")  # less than any call reserves at the new price
    budget.save()
    took = _everywhere_within(gateways, lambda url: _status(url, other, model=model) == 429, 5.0)
    assert took <= BUS_WINDOW_S, f"the budget edit took {took} s"


# --- circuit breakers -----------------------------------------------------------------------


def test_an_outage_seen_by_one_process_routes_the_others_away(gateways, upstreams):
    down, up = upstreams
    run = uuid.uuid4().hex[:6]  # circuits are shared by name, in Redis, for the cool-down
    Provider.objects.create(
        name=f"down-{run}",
        kind="openai_compatible",
        base_url=down.base_url,
        models=["*"],
        priority=10,
    )
    Provider.objects.create(
        name=f"up-{run}", kind="openai_compatible", base_url=up.base_url, models=["*"], priority=20
    )
    raw = _key()
    down.fail_always_with(500)
    # Two failures open the circuit (LLM_CIRCUIT_FAILURES=2); each call fails over.
    for _ in range(2):
        response = asyncio.run(_chat(gateways[0], raw, "fail over"))
        assert response.status_code == 200
        assert response.headers["x-gateway-provider"] == f"up-{run}"
    failed = len(down.chat_calls)
    assert failed == 2
    time.sleep(0.3)  # the bus carries the open circuit in milliseconds
    for url in gateways[1:]:
        response = asyncio.run(_chat(url, raw, "route away"))
        assert response.headers["x-gateway-provider"] == f"up-{run}"
    assert len(down.chat_calls) == failed  # the other processes never tried it
