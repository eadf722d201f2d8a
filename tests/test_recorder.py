"""The background record writer used on the server's API path."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from calls import recorder
from calls.models import LLMCall
from calls.services import CallRecord, call_values, calls_record_batch

pytestmark = pytest.mark.django_db(transaction=True)


def a_record(**fields) -> CallRecord:
    return CallRecord(
        id=uuid.uuid4(),
        created_at=timezone.now(),
        agent_name="writer",
        model="gpt-4o-mini",
        provider="openai",
        **fields,
    )


def test_submitted_records_are_written_once_when_drained():
    records = [a_record() for _ in range(20)]

    async def submit_and_drain():
        writer = recorder.record_writer()
        for record in records:
            writer.submit(record)
        writer.submit(records[0])  # a repeat (retried batch) must not duplicate
        await recorder.records_flush()

    async_to_sync(submit_and_drain)()
    assert LLMCall.objects.filter(agent_name="writer").count() == 20


def test_a_failed_batch_is_kept_and_retried(monkeypatch):
    real = recorder.calls_record_batch
    failures = {"left": 2}

    def flaky(batch):
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("database went away")
        return real(batch)

    monkeypatch.setattr(recorder, "calls_record_batch", flaky)
    record = a_record()

    async def submit_and_drain():
        recorder.record_writer().submit(record)
        await recorder.records_flush()

    async_to_sync(submit_and_drain)()
    assert failures["left"] == 0
    assert LLMCall.objects.filter(id=record.id).count() == 1


@pytest.mark.background_records
def test_server_answers_before_writing_and_every_call_is_recorded_once(
    live_gateway, upstream, make_key, prices
):
    key = make_key("batched")

    def call(i: int) -> str:
        client = openai.OpenAI(base_url=live_gateway.base_url, api_key=key, max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"question {i}"}]
        )
        return raw.headers["x-gateway-request-id"]

    with ThreadPoolExecutor(max_workers=10) as pool:
        ids = list(pool.map(call, range(40)))
    deadline = time.monotonic() + 10
    while LLMCall.objects.filter(agent_name="batched").count() < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    rows = LLMCall.objects.filter(agent_name="batched")
    assert rows.count() == 40
    assert {str(i) for i in rows.values_list("id", flat=True)} == set(ids)
    assert all(row.cost > 0 for row in rows)
    assert len(upstream.chat_calls) == 40


def test_call_values_name_every_column_the_batch_writer_copies():
    """The PostgreSQL batch path COPYs call_values column by column: a field
    added to LLMCall but not to call_values would fail every batch."""
    values = call_values(a_record())
    assert {f.attname for f in LLMCall._meta.concrete_fields} == set(values)


def test_a_batch_meeting_rows_already_written_skips_them_and_writes_the_rest():
    first, second = a_record(), a_record()
    calls_record_batch([first])
    calls_record_batch([first, second])  # the retry of a batch that had committed
    assert LLMCall.objects.filter(id__in=[first.id, second.id]).count() == 2


def test_a_record_the_database_refuses_does_not_hold_up_the_others(caplog):
    """A batch refused for its content (not an outage) is written record by record;
    the refused one is stored without its bodies, and the queue moves on."""
    good, later = a_record(), a_record()
    refused = a_record(http_status=2**70, response_body={"content": "kept out"})

    async def submit_and_drain():
        writer = recorder.record_writer()
        writer.submit(good)
        writer.submit(refused)
        await recorder.records_flush()
        writer.submit(later)
        await recorder.records_flush()

    async_to_sync(submit_and_drain)()
    assert LLMCall.objects.filter(id__in=[good.id, later.id]).count() == 2
    stripped = LLMCall.objects.get(id=refused.id)
    assert stripped.response_body is None and "record_stripped" in stripped.metadata
    assert stripped.agent_name == "writer" and stripped.http_status is None
    assert f"call {refused.id} stored without its bodies" in caplog.text


def test_the_batch_writer_settles_reservations_with_the_rows_exactly_once():
    """The server's calls settle their budget reservation in the batch that writes
    their rows; a batch retried after an unheard commit must not settle again."""
    from decimal import Decimal

    from costs.budgets import budget_create
    from costs.models import BudgetCounter
    from costs.reservations import budget_reserve

    budget_create(name="Cap", amount="10", period="daily", action="block")
    reservation = budget_reserve(
        agent_name="writer", key_prefix="", model="gpt-4o-mini", amount=Decimal("2")
    )
    record = a_record(cost=Decimal("0.5"), reservation=reservation)
    calls_record_batch([record])
    counter = BudgetCounter.objects.get()
    assert (counter.reserved, counter.spent) == (0, Decimal("0.5"))
    reservation.settled = False  # as if the writer never heard the commit
    calls_record_batch([record])  # the retry meets its own row
    counter.refresh_from_db()
    assert (counter.reserved, counter.spent) == (0, Decimal("0.5"))
    assert LLMCall.objects.filter(id=record.id).count() == 1


def a_reserved_record(cost: str) -> CallRecord:
    from decimal import Decimal

    from costs.budgets import budget_create
    from costs.reservations import budget_reserve

    budget_create(name="Cap", amount="10", period="daily", action="block")
    reservation = budget_reserve(
        agent_name="writer", key_prefix="", model="gpt-4o-mini", amount=Decimal("2")
    )
    return a_record(cost=Decimal(cost), reservation=reservation)


def test_a_settle_the_database_refuses_never_costs_the_batch_its_rows(monkeypatch, caplog):
    """The settle has no savepoint of its own (it holds the counter every call
    reserves on until the commit): a refused one rolls the batch back, and the
    batch is written again without it. Reconciliation counts the cost later."""
    from django.db import DataError

    from costs import reservations
    from costs.models import BudgetCounter

    record = a_reserved_record("0.5")

    def refuse(items):
        raise DataError("numeric field overflow")

    monkeypatch.setattr(reservations, "reservations_settle", refuse)
    calls_record_batch([record, a_record()])
    assert LLMCall.objects.count() == 2
    assert BudgetCounter.objects.get().reserved == 2  # left for reconciliation to release
    assert record.reservation.settled  # and never settled twice
    assert "settling 1 reservations failed" in caplog.text


@pytest.mark.postgres
def test_a_settle_overflowing_its_counter_rolls_back_and_the_rows_are_written_again():
    """The same with a real refusal: PostgreSQL aborts the transaction at the
    failed statement, so only a rollback and a second try can save the rows."""
    from decimal import Decimal

    from costs.models import BudgetCounter

    record = a_reserved_record("1")
    BudgetCounter.objects.update(spent=Decimal("99999999999999.5"))  # 14 digits: the most
    calls_record_batch([record])
    assert LLMCall.objects.filter(id=record.id).count() == 1
    assert BudgetCounter.objects.get().reserved == 2
