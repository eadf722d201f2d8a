"""The write-ahead spool: records on disk before the answer, replayed once after a kill."""

from __future__ import annotations

import os
import shutil
import signal
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from calls import recorder
from calls import spool as spool_module
from calls.models import LLMCall
from calls.services import CallRecord
from calls.spool import PATTERN, Spool, spool
from calls.spool_recovery import spool_adopt, spool_sweep

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.background_records]

PASTED = "sk-proj-" + "PastedIntoAPrompt" * 3


def a_record(**fields) -> CallRecord:
    defaults = dict(
        id=uuid.uuid4(),
        created_at=timezone.now(),
        agent_name="spooled",
        model="gpt-4o-mini",
        provider="openai",
        prompt_tokens=12,
        completion_tokens=7,
        cost=Decimal("0.0000123"),
        request_body={"messages": [{"role": "user", "content": "hello"}]},
    )
    return CallRecord(**{**defaults, **fields})


def reserved(amount: str = "2"):
    from costs.budgets import budget_create
    from costs.reservations import budget_reserve

    budget_create(name="Cap", amount="10", period="daily", action="block")
    return budget_reserve(
        agent_name="spooled", key_prefix="", model="gpt-4o-mini", amount=Decimal(amount)
    )


def counter():
    from costs.models import BudgetCounter

    return BudgetCounter.objects.get()


def files(directory: Path) -> list[Path]:
    return sorted(directory.glob(PATTERN))


def killed_process_spools(directory: Path, started=(), ended=(), segment_bytes=None):
    """A child process appends to its own spool, then is SIGKILLed: what it leaves."""
    pid = os.fork()
    if pid == 0:  # the child: append, then die the hard way
        try:
            if segment_bytes is not None:
                spool_module.SEGMENT_BYTES = segment_bytes
            own = Spool(directory)
            for record, reservation in started:
                own.started(record, reservation)
            for record in ended:
                own.ended(record)
        finally:
            os.kill(os.getpid(), signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    left = [p for p in files(directory) if f"calls-{pid}-" in p.name]
    return left[0] if segment_bytes is None else left


def test_a_record_is_on_disk_before_submit_returns_and_gone_once_written():
    record = a_record()

    async def submit_and_drain() -> tuple[bytes, bytes]:
        own = spool()
        recorder.record_writer().submit(record)
        before = b"".join(p.read_bytes() for p in files(own.directory))
        await recorder.records_flush()
        return before, b"".join(p.read_bytes() for p in files(own.directory))

    before, after = async_to_sync(submit_and_drain)()
    assert str(record.id).encode() in before
    assert str(record.id).encode() not in after  # spent: the file was started over
    assert LLMCall.objects.filter(id=record.id).count() == 1


def test_bodies_are_redacted_before_they_reach_the_spool():
    record = a_record(request_body={"messages": [{"role": "user", "content": f"key {PASTED}"}]})
    own = spool()
    own.ended(record)
    data = b"".join(p.read_bytes() for p in files(own.directory))
    assert str(record.id).encode() in data and b"[REDACTED]" in data
    assert PASTED.encode() not in data


def test_a_killed_processes_calls_are_replayed_once_with_their_money_settled(tmp_path):
    reservation = reserved("2")
    answered = a_record(cost=Decimal("0.5"), reservation=reservation)
    plain = a_record(cost=Decimal("0.25"))
    left = killed_process_spools(
        tmp_path, started=[(answered, reservation)], ended=[answered, plain]
    )
    spare = tmp_path / "copy.bak"
    shutil.copy(left, spare)
    assert (counter().reserved, counter().spent) == (2, 0)

    assert spool_adopt([left]) == 2
    assert not left.exists()
    rows = {row.id: row for row in LLMCall.objects.all()}
    assert set(rows) == {answered.id, plain.id}
    assert rows[answered.id].cost == Decimal("0.5") and rows[plain.id].cost == Decimal("0.25")
    assert rows[answered.id].prompt_tokens == 12 and rows[answered.id].status == "success"
    # The global budget's books: the reservation released, the spend = the log's.
    assert (counter().reserved, counter().spent) == (0, Decimal("0.75"))

    shutil.move(spare, left)  # an adopter killed after its commit: the next replays again
    assert spool_adopt([left]) == 2
    assert LLMCall.objects.count() == 2
    assert (counter().reserved, counter().spent) == (0, Decimal("0.75"))


def test_a_call_killed_before_it_ended_is_recorded_as_interrupted_and_releases_its_money(
    tmp_path,
):
    reservation = reserved("3")
    midway = a_record(cost=Decimal("0"), request_body=None)
    left = killed_process_spools(tmp_path, started=[(midway, reservation)])
    assert spool_adopt([left]) == 1
    row = LLMCall.objects.get(id=midway.id)
    assert row.status == "error" and row.error_type == "GatewayInterrupted"
    assert row.cost == 0 and row.metadata == {"interrupted": True}
    assert (counter().reserved, counter().spent) == (0, 0)


def test_a_live_processes_spool_is_never_adopted(tmp_path):
    own = Spool(tmp_path)
    record = a_record()
    own.ended(record)
    other = Spool(tmp_path / "elsewhere")  # a process with a different spool of its own
    (path,) = files(tmp_path)
    assert spool_adopt([path]) is None
    assert spool_sweep(other) == 0
    assert path.exists() and not LLMCall.objects.exists()


def test_the_sweep_skips_its_own_files_and_adopts_the_dead(tmp_path):
    own = Spool(tmp_path)
    mine = a_record()
    own.ended(mine)
    theirs = a_record()
    killed_process_spools(tmp_path, ended=[theirs])
    assert spool_sweep(own) == 1
    assert list(LLMCall.objects.values_list("id", flat=True)) == [theirs.id]
    assert len(files(tmp_path)) == 1  # ours, still in use


def test_a_spool_of_another_database_is_left_alone(tmp_path, settings):
    left = killed_process_spools(tmp_path, ended=[a_record()])
    data = left.read_bytes()
    _header, rest = data.split(b"\n", 1)
    left.write_bytes(b'{"k":"H","database":"0000000000000000"}\n' + rest)
    assert spool_adopt([left]) == 0
    assert left.exists() and not LLMCall.objects.exists()


def test_a_line_cut_short_by_the_kill_is_skipped_and_the_rest_replayed(tmp_path):
    whole = a_record()
    left = killed_process_spools(tmp_path, ended=[whole, a_record()])
    data = left.read_bytes()
    left.write_bytes(data[: len(data) - 40])  # the last append was torn
    assert spool_adopt([left]) == 1
    assert list(LLMCall.objects.values_list("id", flat=True)) == [whole.id]


def test_a_calls_two_entries_in_two_files_are_replayed_together(tmp_path):
    reservation = reserved("2")
    answered = a_record(cost=Decimal("0.5"), reservation=reservation)
    left = killed_process_spools(
        tmp_path, started=[(answered, reservation)], ended=[answered], segment_bytes=0
    )
    assert len(left) >= 2  # the file was rotated between the call's start and its end
    own = Spool(tmp_path)
    assert spool_sweep(own) == 1
    row = LLMCall.objects.get(id=answered.id)
    assert row.status == "success" and row.cost == Decimal("0.5")
    assert (counter().reserved, counter().spent) == (0, Decimal("0.5"))
    assert all(own.owns(path) for path in files(tmp_path))


def test_a_replayed_record_keeps_the_prices_it_was_charged_at_and_its_operation(tmp_path):
    prices = {
        "input_price_per_m": Decimal("0.15"),
        "output_price_per_m": Decimal("0.6"),
        "cached_price_per_m": None,
    }
    answered = a_record(operation="embeddings", ledger_prices=prices, cost=Decimal("0.0000031"))
    midway = a_record(operation="responses", request_body=None)
    left = killed_process_spools(tmp_path, started=[(midway, None)], ended=[answered])
    assert spool_adopt([left]) == 2
    row = LLMCall.objects.get(id=answered.id)
    assert row.operation == "embeddings" and row.cost == Decimal("0.0000031")
    assert (row.input_price_per_m, row.output_price_per_m) == (Decimal("0.15"), Decimal("0.6"))
    assert row.cached_price_per_m is None
    assert LLMCall.objects.get(id=midway.id).operation == "responses"
