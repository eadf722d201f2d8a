"""The background record writer used on the server's API path."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from llm_gateway import recorder
from llm_gateway.models import LLMCall
from llm_gateway.services import CallRecord

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
