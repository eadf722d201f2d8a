"""The call log and what grows with it, partitioned by month on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from calls.models import LLMCall
from calls.partitions import month_partitions, partitioned_tables, partitions_ensure
from calls.services import CallRecord, calls_record_batch
from tests.factories import LLMCallFactory, ValidationResultFactory
from tests.migration_steps import migrate, migrate_to_latest
from validation.models import Feedback, ValidationResult

pytestmark = pytest.mark.postgres

TABLES = {
    "llm_gateway_llmcall": "created_at",
    "validation_feedback": "call_created_at",
    "validation_validationresult": "call_created_at",
}


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_the_call_log_and_its_dependants_are_partitioned_by_their_calls_month():
    assert partitioned_tables() == TABLES


@pytest.mark.django_db
def test_the_job_creates_the_months_ahead_once_and_moves_rows_out_of_the_default():
    early = datetime(2031, 5, 20, tzinfo=UTC)
    call = LLMCallFactory(created_at=early)  # no partition yet: the default takes it
    ValidationResultFactory(call=call)
    assert _count("llm_gateway_llmcall_default") == 1

    created = partitions_ensure(now=datetime(2031, 5, 2, tzinfo=UTC))

    months = ("2031_05", "2031_06", "2031_07")
    assert sorted(created) == sorted(f"{t}_p{m}" for t in TABLES for m in months)
    assert partitions_ensure(now=datetime(2031, 5, 2, tzinfo=UTC)) == []
    assert _count("llm_gateway_llmcall_default") == 0
    assert _count("llm_gateway_llmcall_p2031_05") == 1
    assert _count("validation_validationresult_p2031_05") == 1
    assert LLMCall.objects.get(id=call.id).validation.is_valid
    starts = [p.start for p in month_partitions("llm_gateway_llmcall")]
    assert datetime(2031, 7, 1, tzinfo=UTC) in starts


@pytest.mark.django_db
def test_a_replayed_batch_is_still_written_once():
    record = CallRecord(id=uuid.uuid4(), created_at=timezone.now(), agent_name="replay")
    calls_record_batch([record])
    calls_record_batch([record])  # committed, but the writer never heard: it retries
    assert LLMCall.objects.filter(id=record.id).count() == 1


# --- the migration converts a populated table ----------------------------------------

BEFORE = [("llm_gateway", "0009_llmcall_sort_indexes"), ("validation", "0005_feedback")]


@pytest.fixture
def _back_to_latest():
    yield
    migrate_to_latest()


def _indexes(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [table])
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_back_to_latest")
def test_the_migration_moves_a_populated_log_into_months_with_its_indexes():
    old = migrate(BEFORE)
    assert "llm_gateway_llmcall" not in partitioned_tables()
    Call = old.get_model("llm_gateway", "LLMCall")
    now = timezone.now()
    when = [now - timedelta(days=d) for d in (0, 40, 70)]
    calls = [Call.objects.create(created_at=t, agent_name="a", tags={"team": "x"}) for t in when]
    old.get_model("validation", "ValidationResult").objects.create(
        call=calls[1], is_valid=False, quality_score=0.2, checks=[]
    )
    old.get_model("validation", "Feedback").objects.create(call=calls[2], score=1)
    indexes_before = _indexes("llm_gateway_llmcall") - {"llm_gateway_llmcall_pkey"}

    migrate([("llm_gateway", "0010_llmcall_partitions"), ("validation", "0006_partitions")])

    assert partitioned_tables() == TABLES
    assert LLMCall.objects.count() == 3
    for moment in when:
        assert _count(f"llm_gateway_llmcall_p{moment:%Y_%m}") >= 1
    assert _count("llm_gateway_llmcall_default") == 0
    assert indexes_before <= _indexes("llm_gateway_llmcall")
    assert {"llmcall_tags_gin", "llmcall_model_trgm", "llmcall_session_time"} <= indexes_before
    assert LLMCall.objects.filter(tags__contains={"team": "x"}).count() == 3
    result = ValidationResult.objects.get()
    assert result.call_id == calls[1].id and result.call_created_at == when[1]
    assert Feedback.objects.get().call_created_at == when[2]
    # The ids go on after the moved rows (a new identity would start again at 1).
    assert ValidationResultFactory(call=LLMCall.objects.get(id=calls[0].id)).id > result.id


@pytest.mark.django_db
def test_rows_of_a_past_month_in_the_default_partition_get_their_month():
    now = timezone.now()
    past = now - timedelta(days=70)
    name = f"llm_gateway_llmcall_p{past:%Y_%m}"
    call = LLMCallFactory(created_at=past)
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NULL", [name])
        assert cursor.fetchone()[0]  # a fresh database starts at this month

    assert name in partitions_ensure(now=now)

    assert _count(name) == 1
    assert _count("llm_gateway_llmcall_default") == 0
    assert LLMCall.objects.get(id=call.id).created_at == past
