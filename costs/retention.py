"""Retention of the call log: bodies after ``CALL_BODY_RETENTION_DAYS``, whole
calls after ``CALL_RETENTION_DAYS``.

Bodies are most of the log's bytes and nobody reads them after a month, so
they go first; the rows (tokens, cost, latency, attribution) stay for the
request explorer until the second, longer limit.

What the log feeds is never lost with it: charts, spend history and budgets
read the usage rollups (costs.rollups) and budget counters, which retention
does not touch; and no call is removed before the rollup job has read it (its
``recorded_at`` is behind the rollup cursor). A month whose rows are not all
rolled up yet is kept whole and shown as held back.

This lives in costs, not in the call log, because it needs the rollup cursor.
On PostgreSQL whole months go at once (calls.partitions: one DROP TABLE per
table, validation results and feedback with their calls); rows outside any
month partition (the default partition) and all of SQLite are deleted in
batches, so no statement holds the log for long.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min, Q, QuerySet
from django.utils import timezone

from calls.models import LLMCall
from calls.partitions import (
    CALLS_TABLE,
    month_partitions,
    partition_drop,
    partition_rows_estimate,
    partitioned_tables,
    postgres,
)
from costs.models import RollupCursor
from costs.rollups import rollup_position

BODIES_CURSOR = "call_bodies"
BATCH = 2000


@dataclass(frozen=True)
class MonthDrop:
    """A month of the call log (and of what grows with it) that retention removes."""

    start: datetime
    end: datetime
    partitions: list[str]
    calls: int  # the planner's estimate
    rolled_up: bool


@dataclass
class RetentionPlan:
    """What the next run removes: shown by the admin and ``call_retention --dry-run``."""

    now: datetime
    body_cutoff: datetime
    call_cutoff: datetime
    rollup_position: datetime | None
    bodies_since: datetime | None
    bodies: int = 0  # calls whose bodies are cleared
    rows: int = 0  # calls deleted one by one (SQLite; the default partition)
    months: list[MonthDrop] = field(default_factory=list)

    @property
    def dropped(self) -> list[MonthDrop]:
        return [m for m in self.months if m.rolled_up]

    @property
    def held_back(self) -> list[MonthDrop]:
        return [m for m in self.months if not m.rolled_up]


@dataclass
class RetentionDone:
    bodies: int = 0
    rows: int = 0
    partitions: list[str] = field(default_factory=list)


def retention_plan(*, now: datetime | None = None) -> RetentionPlan:
    now = now or timezone.now()
    position = rollup_position()
    plan = RetentionPlan(
        now=now,
        body_cutoff=now - timedelta(days=settings.CALL_BODY_RETENTION_DAYS),
        call_cutoff=now - timedelta(days=settings.CALL_RETENTION_DAYS),
        rollup_position=position,
        bodies_since=_bodies_cursor(),
    )
    plan.bodies = _with_bodies(plan.bodies_since, plan.body_cutoff).count()
    plan.months = _months_due(plan.call_cutoff, position)
    plan.rows = _rows_due(plan.call_cutoff, position).count()
    return plan


def retention_apply(*, now: datetime | None = None) -> RetentionDone:
    """Clear old bodies, drop old months, delete old rows outside them."""
    plan = retention_plan(now=now)
    done = RetentionDone(bodies=_bodies_clear(plan))
    for month in plan.dropped:
        if _month_drop(month, plan.rollup_position):
            done.partitions.extend(month.partitions)
    done.rows = _rows_delete(plan.call_cutoff, plan.rollup_position)
    return done


# --- bodies ---------------------------------------------------------------------------


def _bodies_cursor() -> datetime | None:
    return (
        RollupCursor.objects.filter(name=BODIES_CURSOR).values_list("position", flat=True).first()
    )


def _with_bodies(since: datetime | None, until: datetime) -> QuerySet[LLMCall]:
    # By recorded_at, which only grows: a call recorded late (a spool replayed after
    # an outage) is not skipped by a cursor that already passed its created_at.
    calls = LLMCall.objects.filter(recorded_at__lt=until).filter(
        Q(request_body__isnull=False) | Q(response_body__isnull=False)
    )
    return calls.filter(recorded_at__gte=since) if since else calls


def _bodies_clear(plan: RetentionPlan) -> int:
    """Clear in slices of about BATCH calls by recorded_at, each slice its own
    transaction with the cursor moved in it: a run stopped half-way resumes where
    it was, and a year of history on the first run is many short statements."""
    since = plan.bodies_since or LLMCall.objects.aggregate(first=Min("recorded_at"))["first"]
    cleared = 0
    while since is not None and since < plan.body_cutoff:
        until = _slice_end(since, plan.body_cutoff)
        with transaction.atomic():
            cleared += _with_bodies(since, until).update(request_body=None, response_body=None)
            RollupCursor.objects.update_or_create(name=BODIES_CURSOR, defaults={"position": until})
        since = until
    return cleared


def _slice_end(since: datetime, cutoff: datetime) -> datetime:
    """The recorded_at of the BATCH-th call from ``since`` (a walk of the index),
    or the cutoff when fewer are left."""
    later = LLMCall.objects.filter(recorded_at__gte=since, recorded_at__lt=cutoff)
    nth = later.order_by("recorded_at").values_list("recorded_at", flat=True)[BATCH : BATCH + 1]
    end = next(iter(nth), cutoff)
    return end if end > since else since + timedelta(microseconds=1)


# --- whole calls ----------------------------------------------------------------------


def _months_due(cutoff: datetime, position: datetime | None) -> list[MonthDrop]:
    """PostgreSQL: the months wholly older than the cutoff, with every table's
    partition of that month; rolled up when the cursor has passed all its rows."""
    if not postgres():
        return []
    tables = partitioned_tables()
    by_month: dict[datetime, list[str]] = {}
    for table in tables:
        for part in month_partitions(table):
            if part.end <= cutoff:
                by_month.setdefault(part.start, []).append(part.name)
    months = []
    for part in month_partitions(CALLS_TABLE):
        if part.start in by_month:
            last = _last_recorded(part.name)
            rolled_up = last is None or (position is not None and last < position)
            months.append(
                MonthDrop(
                    part.start,
                    part.end,
                    by_month.pop(part.start),
                    partition_rows_estimate(part.name),
                    rolled_up,
                )
            )
    # A dependant's month without a calls partition holds nothing that is rolled up.
    months += [MonthDrop(s, s, names, 0, True) for s, names in by_month.items()]
    return sorted(months, key=lambda m: m.start)


def _month_drop(month: MonthDrop, position: datetime | None) -> bool:
    """Drop the month's partitions, checking again under the lock that no row came
    in since the plan (a spool replayed with old calls) that the rollups lack."""
    calls = [name for name in month.partitions if name.startswith(f"{CALLS_TABLE}_p")]
    with transaction.atomic(), connection.cursor() as cursor:
        # The DROP needs the parent's exclusive lock anyway: take it first, in the
        # writers' order (the call log before its dependants), so no deadlock; give
        # up after a while rather than queue every reader behind a long query.
        cursor.execute("SET LOCAL lock_timeout = '5s'")
        cursor.execute(f"LOCK TABLE {CALLS_TABLE} IN ACCESS EXCLUSIVE MODE")
        for name in calls:
            last = _last_recorded(name)
            if last is not None and (position is None or last >= position):
                return False
        for name in month.partitions:
            partition_drop(name)
    return True


def _last_recorded(partition: str) -> datetime | None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MAX(recorded_at) FROM {connection.ops.quote_name(partition)}")
        return cursor.fetchone()[0]


def _rows_due(cutoff: datetime, position: datetime | None) -> QuerySet[LLMCall]:
    """Calls older than the cutoff that the rollups already hold (none before the
    rollup job has ever run). On PostgreSQL only those outside every month
    partition (the default partition's): a month goes whole once it is wholly
    past the cutoff, never a day at a time by DELETE before that."""
    if position is None:
        return LLMCall.objects.none()
    calls = LLMCall.objects.filter(created_at__lt=cutoff, recorded_at__lt=position)
    for part in month_partitions(CALLS_TABLE) if postgres() else []:
        calls = calls.exclude(created_at__gte=part.start, created_at__lt=part.end)
    return calls


def _rows_delete(cutoff: datetime, position: datetime | None) -> int:
    """Delete in batches; Django's cascade removes each batch's validation results
    and feedback (their foreign keys are not database constraints)."""
    deleted = 0
    while True:
        ids = list(_rows_due(cutoff, position).values_list("id", flat=True)[:BATCH])
        if not ids:
            return deleted
        with transaction.atomic():
            LLMCall.objects.filter(id__in=ids).delete()
        deleted += len(ids)


def retention_summary(plan: RetentionPlan) -> list[str]:
    """The plan in plain lines, for the dry-run command and the admin."""
    day = "%Y-%m-%d %H:%M"
    position = f"{plan.rollup_position:{day}}" if plan.rollup_position else "never run"
    lines = [
        f"Bodies: cleared from calls recorded before {plan.body_cutoff:{day}} UTC "
        f"(CALL_BODY_RETENTION_DAYS={settings.CALL_BODY_RETENTION_DAYS}): "
        f"{plan.bodies:,} calls.",
        f"Calls: removed when made before {plan.call_cutoff:{day}} UTC "
        f"(CALL_RETENTION_DAYS={settings.CALL_RETENTION_DAYS}) and rolled up "
        f"(rollups have read calls recorded before {position}).",
    ]
    for month in plan.dropped:
        lines.append(
            f"Drop month {month.start:%Y-%m} (about {month.calls:,} calls): "
            + ", ".join(month.partitions)
        )
    for month in plan.held_back:
        lines.append(f"Held back: month {month.start:%Y-%m} has calls not rolled up yet.")
    if not plan.months:
        lines.append("No month partition is due." if postgres() else "One table (no partitions).")
    lines.append(f"Calls deleted row by row: {plan.rows:,}.")
    return lines
