"""Budgets under concurrency: a nearly spent block budget hit by many parallel
calls overshoots by at most one reservation, and racing evaluations record
each threshold once. The bounds hold on SQLite (writers serialised) and are
proven where it matters, on Postgres (row locks)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import openai
import pytest
from asgiref.sync import async_to_sync
from django.db import connection

from calls.models import LLMCall
from costs.budgets import budget_create, budgets_evaluate
from costs.models import BudgetAlertEvent, BudgetCounter
from costs.reservations import budget_reserve, reservation_estimate
from llm_gateway.interface import LLMBudgetExceededError, LLMRequest
from llm_gateway.manager import LLMManager
from llm_gateway.providers.openai_provider import OpenAIProvider

pytestmark = pytest.mark.django_db(transaction=True)

MODEL = "gpt-4o"
MESSAGES = [{"role": "user", "content": "What is a gateway?"}]
MAX_TOKENS = 100
AMOUNT = Decimal("1")
ROOM_FOR = 10  # calls' worth of reservations left in the budget


def nearly_spent_budget() -> Decimal:
    """A block budget with room for about ROOM_FOR calls; returns one reservation."""
    reservation = async_to_sync(reservation_estimate)(
        messages=MESSAGES, max_tokens=MAX_TOKENS, model=MODEL, kinds=["openai"]
    )
    assert reservation > 0
    budget_create(name="Cap", amount=AMOUNT, period="monthly", action="block")
    LLMCall.objects.create(agent_name="earlier", model=MODEL, cost=AMOUNT - ROOM_FOR * reservation)
    return reservation


def check_bound(reservation: Decimal, sent: int, succeeded: int, blocked: int) -> None:
    # Summed in Python: SQLite's SUM() of decimals goes through floats.
    spent = sum(LLMCall.objects.values_list("cost", flat=True), Decimal(0))
    overshoot = spent - AMOUNT
    print(
        f"sent={sent} succeeded={succeeded} blocked={blocked} "
        f"spent={spent} overshoot={overshoot} reservation={reservation}"
    )
    assert succeeded + blocked == sent
    # Settled calls cost less than they reserved, so more than ROOM_FOR may fit;
    # but the budget ran out, and refused calls were never charged.
    assert succeeded > 0 and blocked > 0
    assert spent <= AMOUNT + reservation
    assert LLMCall.objects.filter(status="blocked").count() == blocked
    assert LLMCall.objects.filter(status="success").count() == succeeded + 1  # + the earlier row
    counter = BudgetCounter.objects.get()
    assert (counter.reserved, counter.spent) == (0, spent)


def run_http(live_gateway, key: str, requests: int, threads: int) -> tuple[int, int]:
    def one(_: int) -> str:
        client = openai.OpenAI(base_url=live_gateway.base_url, api_key=key, max_retries=0)
        try:
            client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)
        except openai.RateLimitError as error:
            assert error.status_code == 429
            assert error.code == "budget_exceeded"
            assert error.response.headers["x-should-retry"] == "false"
            return "blocked"
        return "ok"

    with ThreadPoolExecutor(max_workers=threads) as pool:
        outcomes = list(pool.map(one, range(requests)))
    # The server writes call rows in batches just after each response: wait for them.
    deadline = time.monotonic() + 10
    while LLMCall.objects.count() < requests + 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    return outcomes.count("ok"), outcomes.count("blocked")


@pytest.mark.postgres
@pytest.mark.background_records  # the server's own path: reserve on its thread, settle in the batch
def test_parallel_http_calls_overshoot_a_block_budget_by_at_most_one_reservation(
    live_gateway, upstream, prices, make_key
):
    reservation = nearly_spent_budget()
    upstream.latency = 0.05  # keep calls in flight together (widens the race, not timed)
    succeeded, blocked = run_http(live_gateway, make_key("swarm"), requests=100, threads=50)
    check_bound(reservation, 100, succeeded, blocked)


@pytest.mark.background_records
def test_parallel_http_calls_stay_within_the_bound_on_the_default_database(
    live_gateway, upstream, prices, make_key
):
    reservation = nearly_spent_budget()
    succeeded, blocked = run_http(live_gateway, make_key("swarm"), requests=30, threads=15)
    check_bound(reservation, 30, succeeded, blocked)


def in_threads(call: Callable[[], object], requests: int, threads: int) -> list[str]:
    """``call`` ``requests`` times on ``threads`` threads: "ok", or "blocked"
    when a budget refused it. Each thread's connection is closed after it."""

    def one(_: int) -> str:
        try:
            call()
        except LLMBudgetExceededError:
            return "blocked"
        finally:
            connection.close()
        return "ok"

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, range(requests)))


def run_python_api(fake, requests: int, threads: int) -> tuple[int, int]:
    provider = OpenAIProvider(api_key="sk-test", model=MODEL, base_url=fake.base_url)

    def call() -> None:
        manager = LLMManager([provider], fallback_models=[], mock_fallback=False)
        request = LLMRequest(messages=MESSAGES, model=MODEL, max_tokens=MAX_TOKENS)
        async_to_sync(manager.generate_response)(request, agent_name="threads")

    outcomes = in_threads(call, requests, threads)
    return outcomes.count("ok"), outcomes.count("blocked")


def test_parallel_python_api_calls_overshoot_by_at_most_one_reservation(fake_openai, prices):
    reservation = nearly_spent_budget()
    fake_openai.latency = 0.02
    succeeded, blocked = run_python_api(fake_openai, requests=40, threads=20)
    check_bound(reservation, 40, succeeded, blocked)


@pytest.mark.postgres
def test_parallel_python_api_calls_on_postgres_overshoot_by_at_most_one_reservation(
    fake_openai, prices
):
    reservation = nearly_spent_budget()
    fake_openai.latency = 0.05
    succeeded, blocked = run_python_api(fake_openai, requests=100, threads=50)
    check_bound(reservation, 100, succeeded, blocked)


@pytest.mark.postgres
def test_two_workers_evaluating_at_once_record_each_threshold_once():
    budget = budget_create(name="B", amount="10", period="daily", thresholds=[0.5, 0.8, 1])
    # bulk_create sends no post_save: no refresh evaluates before the two racers do.
    LLMCall.objects.bulk_create([LLMCall(agent_name="A", cost=Decimal("12"))])
    barrier = threading.Barrier(2)
    created: list[int] = []
    errors: list[BaseException] = []

    def evaluate() -> None:
        try:
            barrier.wait()
            created.extend(event.id for event in budgets_evaluate())
        except Exception as error:  # noqa: BLE001 - surfaced below; a thread cannot fail the test
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=evaluate) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    events = BudgetAlertEvent.objects.filter(budget=budget)
    assert sorted(events.values_list("threshold", flat=True)) == [
        Decimal("0.5"),
        Decimal("0.8"),
        Decimal("1"),
    ]
    assert sorted(created) == sorted(events.values_list("id", flat=True))


def reserve_in_parallel(threads: int, amount: Decimal) -> list[str]:
    """``threads`` reservations released together; no call settles, so which
    fit is exact arithmetic, not timing."""
    barrier = threading.Barrier(threads)

    def call() -> None:
        barrier.wait()
        budget_reserve(agent_name="A", key_prefix="", model="m", amount=amount)

    return in_threads(call, threads, threads)


def test_racing_reservations_fill_a_block_budget_exactly():
    budget_create(name="Cap", amount="7", period="daily", action="block")
    budget_reserve(agent_name="A", key_prefix="", model="m", amount=Decimal(0))  # the counter row
    outcomes = reserve_in_parallel(20, Decimal("0.5"))
    assert outcomes.count("ok") == 14  # 14 x 0.5 = 7: one more would pass the amount
    assert BudgetCounter.objects.get().reserved == Decimal("7")


def test_racing_reservations_on_overlapping_budgets_never_deadlock_and_respect_both():
    """Every call locks the agent's and the global counter: always in id order,
    or two calls holding one each would wait on each other until PostgreSQL
    aborted one. The tighter budget decides, and a refused call adds nothing."""
    budget_create(name="All", amount="100", period="daily", action="block")
    budget_create(
        name="Agent A", amount="3", period="daily", action="block", scope="agent", scope_value="A"
    )
    budget_create(name="Watch", amount="1", period="daily", action="alert")
    budget_reserve(agent_name="A", key_prefix="", model="m", amount=Decimal(0))
    outcomes = reserve_in_parallel(20, Decimal("0.25"))
    assert outcomes.count("ok") == 12
    reserved = sorted(BudgetCounter.objects.values_list("reserved", flat=True))
    assert reserved == [Decimal("3"), Decimal("3")]  # the alert budget keeps no counter
