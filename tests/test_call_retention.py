"""Retention: bodies after CALL_BODY_RETENTION_DAYS, calls after CALL_RETENTION_DAYS,
never a call the rollups have not read."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from calls.models import LLMCall
from calls.partitions import month_add, partition_create, partitioned_tables
from common.buckets import month_start
from costs.models import RollupCursor
from costs.retention import retention_apply, retention_plan
from costs.rollups import CURSOR
from costs.tasks import call_log_maintain_task
from tests.factories import LLMCallFactory, ValidationResultFactory
from validation.models import ValidationResult

pytestmark = pytest.mark.django_db
BODY = {"messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.CALL_BODY_RETENTION_DAYS = 30
    settings.CALL_RETENTION_DAYS = 400


def _call(days_ago: float, **fields) -> LLMCall:
    moment = timezone.now() - timedelta(days=days_ago)
    return LLMCallFactory(
        created_at=moment,
        recorded_at=moment,
        request_body=BODY,
        response_body={"content": "hi"},
        **fields,
    )


def _rolled_up_until(moment) -> None:
    RollupCursor.objects.update_or_create(name=CURSOR, defaults={"position": moment})


def test_bodies_older_than_the_limit_are_cleared_and_the_rows_kept():
    old, recent = _call(40), _call(5)
    done = retention_apply()
    assert done.bodies == 1
    old.refresh_from_db()
    recent.refresh_from_db()
    assert (old.request_body, old.response_body) == (None, None)
    assert recent.request_body == BODY
    assert LLMCall.objects.count() == 2
    assert retention_apply().bodies == 0  # the cursor moved past them


def test_old_calls_go_only_once_the_rollups_have_read_them():
    old, recent = _call(500), _call(10)
    ValidationResultFactory(call=old)
    assert retention_apply().rows == 0  # the rollup job never ran
    _rolled_up_until(old.recorded_at)  # ... read up to, not past, the old call
    assert retention_apply().rows == 0
    assert LLMCall.objects.filter(id=old.id).exists()

    _rolled_up_until(timezone.now())
    assert retention_apply().rows == 1
    assert list(LLMCall.objects.values_list("id", flat=True)) == [recent.id]
    assert not ValidationResult.objects.exists()  # its result went with it


def test_the_hourly_job_keeps_months_ahead_and_applies_retention_idempotently(settings):
    job = settings.CELERY_BEAT_SCHEDULE["call-log-maintain"]
    assert job["task"] == "costs.tasks.call_log_maintain_task"
    old = _call(40)
    assert call_log_maintain_task()["bodies_cleared"] == 1
    again = call_log_maintain_task()
    assert again == {
        "partitions_created": [],
        "partitions_dropped": [],
        "rows_deleted": 0,
        "bodies_cleared": 0,
    }
    old.refresh_from_db()
    assert old.request_body is None


def test_dry_run_prints_what_goes_and_removes_nothing():
    _call(40)
    _call(500)
    _rolled_up_until(timezone.now())
    out = StringIO()
    call_command("call_retention", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "(CALL_BODY_RETENTION_DAYS=30): 2 calls." in text
    assert "(CALL_RETENTION_DAYS=400)" in text
    assert "Dry run: nothing removed." in text
    assert LLMCall.objects.count() == 2
    assert LLMCall.objects.filter(request_body__isnull=False).count() == 2

    call_command("call_retention", stdout=StringIO())
    assert LLMCall.objects.count() == 1


def test_the_admin_shows_what_retention_removes_next(admin_client):
    _call(40)
    changelist = admin_client.get("/admin/llm_gateway/llmcall/")
    assert b"/admin/llm_gateway/llmcall/retention/" in changelist.content
    page = admin_client.get("/admin/llm_gateway/llmcall/retention/")
    assert page.status_code == 200
    assert "1 calls." in page.content.decode()


# --- PostgreSQL: whole months ---------------------------------------------------------


def _month_with_a_call(months_back: int) -> tuple[LLMCall, str]:
    month = month_add(month_start(timezone.now()), -months_back)
    for table, key in partitioned_tables().items():
        partition_create(table, key, month)
    call = _call((timezone.now() - month).days - 1)
    assert month <= call.created_at < month_add(month, 1)
    return call, f"{month:%Y_%m}"


def _exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


@pytest.mark.postgres
def test_a_month_past_the_limit_is_dropped_whole_once_rolled_up():
    old, month = _month_with_a_call(16)
    ValidationResultFactory(call=old)
    recent = _call(3)
    _rolled_up_until(old.recorded_at)

    plan = retention_plan()
    assert [m.partitions for m in plan.held_back] == [
        [f"{table}_p{month}" for table in partitioned_tables()]
    ]
    assert retention_apply().partitions == []
    assert _exists(f"llm_gateway_llmcall_p{month}")

    _rolled_up_until(timezone.now())
    dropped = retention_apply().partitions
    assert f"llm_gateway_llmcall_p{month}" in dropped
    assert f"validation_validationresult_p{month}" in dropped
    assert not _exists(f"llm_gateway_llmcall_p{month}")
    assert list(LLMCall.objects.values_list("id", flat=True)) == [recent.id]
    assert not ValidationResult.objects.exists()


@pytest.mark.postgres
def test_a_month_inside_the_limit_is_kept():
    kept, _ = _month_with_a_call(5)
    _rolled_up_until(timezone.now())
    assert retention_apply().partitions == []
    assert LLMCall.objects.filter(id=kept.id).exists()


@pytest.mark.postgres
def test_a_month_only_partly_past_the_limit_keeps_all_its_calls():
    cutoff = timezone.now() - timedelta(days=400)
    month = month_start(cutoff)
    for table, key in partitioned_tables().items():
        partition_create(table, key, month)
    past = LLMCallFactory(created_at=month, recorded_at=month)
    assert past.created_at < cutoff
    _rolled_up_until(timezone.now())
    assert retention_plan().rows == 0
    done = retention_apply()
    assert (done.rows, done.partitions) == (0, [])
    assert LLMCall.objects.filter(id=past.id).exists()
