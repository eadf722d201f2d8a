"""Monthly partitions of the call log and of what grows with it (PostgreSQL only).

At a million calls a day the log is a third of a billion rows a year. Split by
month (``created_at`` for calls; the call's ``created_at``, copied as
``call_created_at``, for validation results and feedback), retention drops a
month as one ``DROP TABLE`` instead of deleting millions of rows and leaving
the table to vacuum, and a query on a time window only opens its months.

Every range-partitioned table of the schema is found in the catalogue rather
than listed here: the call log cannot import the apps above it (validation),
and all of them are cut by the same month of the same call, so the same
month's partitions are created and dropped together.

Each table also has a DEFAULT partition, normally empty: a row whose month has
no partition yet (a clock far off, a spool replayed after months, a backdated
import) lands there instead of failing its write, which would cost a call its
record. ``partitions_ensure`` moves such rows into their month when it creates it.
SQLite keeps one table: every function here does nothing there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from common.buckets import month_start

# The current month and this many after it always exist before a row needs them.
MONTHS_AHEAD = 2
CALLS_TABLE = "llm_gateway_llmcall"
_NAME = re.compile(r"^(?P<table>.+)_p(?P<year>\d{4})_(?P<month>\d{2})$")


@dataclass(frozen=True)
class Partition:
    table: str  # the partitioned parent
    name: str
    start: datetime
    end: datetime


def postgres() -> bool:
    return connection.vendor == "postgresql"


def month_add(moment: datetime, months: int) -> datetime:
    """The first instant of the month ``months`` after ``moment``'s (UTC)."""
    index = moment.year * 12 + moment.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(table: str, month: datetime) -> str:
    return f"{table}_p{month:%Y_%m}"


def default_partition_name(table: str) -> str:
    return f"{table}_default"


def partitioned_tables() -> dict[str, str]:
    """Every range-partitioned table of the current schema and its key column."""
    if not postgres():
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, a.attname FROM pg_partitioned_table p "
            "JOIN pg_class c ON c.oid = p.partrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = p.partattrs[0] "
            "WHERE p.partstrat = 'r' ORDER BY c.relname"
        )
        return dict(cursor.fetchall())


def month_partitions(table: str) -> list[Partition]:
    """The table's monthly partitions, oldest first (the default one is not listed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [table],
        )
        names = [row[0] for row in cursor.fetchall()]
    found = []
    for name in names:
        match = _NAME.match(name)
        if match and match["table"] == table:
            start = datetime(int(match["year"]), int(match["month"]), 1, tzinfo=UTC)
            found.append(Partition(table, name, start, month_add(start, 1)))
    return sorted(found, key=lambda p: p.start)


def partitions_ensure(*, now: datetime | None = None, ahead: int = MONTHS_AHEAD) -> list[str]:
    """Create this month's partitions and the next ``ahead`` months' for every
    partitioned table, and a partition for each retained month whose rows sit in
    the default partition (a backdated import, demo history); returns the names
    created (none when all exist)."""
    now = now or timezone.now()
    first = month_start(now)
    oldest = now - timedelta(days=settings.CALL_RETENTION_DAYS)
    created = []
    for table, key in partitioned_tables().items():
        have = {p.start for p in month_partitions(table)}
        wanted = {month_add(first, offset) for offset in range(ahead + 1)}
        wanted |= _months_in_default(table, key, since=month_start(oldest))
        for month in sorted(wanted - have):
            partition_create(table, key, month)
            created.append(partition_name(table, month))
    return created


def _months_in_default(table: str, key: str, *, since: datetime) -> set[datetime]:
    """The months of the rows the default partition holds (normally none: a scan
    of an empty table)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if not _exists(cursor, default_partition_name(table)):
            return set()
        cursor.execute(
            f"SELECT DISTINCT date_trunc('month', {quote(key)}, 'UTC') "
            f"FROM {quote(default_partition_name(table))} WHERE {quote(key)} >= %s",
            [since],
        )
        return {row[0].astimezone(UTC) for row in cursor.fetchall()}


def partition_create(table: str, key: str, month: datetime) -> None:
    """Create one month's partition; rows of that month already sitting in the
    default partition are moved into it in the same transaction (PostgreSQL
    refuses to create a partition whose rows the default holds)."""
    quote = connection.ops.quote_name
    name, default = partition_name(table, month), default_partition_name(table)
    bounds = [month, month_add(month, 1)]
    with transaction.atomic(), connection.cursor() as cursor:
        # Serialises two processes creating the same month (the job runs in each server).
        cursor.execute(f"LOCK TABLE {quote(table)} IN SHARE ROW EXCLUSIVE MODE")
        if _exists(cursor, name):
            return
        if not _default_holds(cursor, default, key, bounds):
            cursor.execute(
                f"CREATE TABLE {quote(name)} PARTITION OF {quote(table)} "
                "FOR VALUES FROM (%s) TO (%s)",
                bounds,
            )
            return
        columns = ", ".join(quote(c) for c in _columns(cursor, table))
        in_month = f"{quote(key)} >= %s AND {quote(key)} < %s"
        cursor.execute(
            f"CREATE TABLE {quote(name)} (LIKE {quote(table)} INCLUDING DEFAULTS "
            "INCLUDING CONSTRAINTS)"
        )
        cursor.execute(
            f"WITH moved AS (DELETE FROM {quote(default)} WHERE {in_month} "
            f"RETURNING {columns}) INSERT INTO {quote(name)} ({columns}) SELECT * FROM moved",
            bounds,
        )
        cursor.execute(
            f"ALTER TABLE {quote(table)} ATTACH PARTITION {quote(name)} "
            "FOR VALUES FROM (%s) TO (%s)",
            bounds,
        )


def partition_drop(name: str) -> None:
    with connection.cursor() as cursor:
        # A deferred foreign-key check still pending on the partition (rows written
        # in this same transaction) would refuse the DROP: run such checks now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(name)}")


def partition_rows_estimate(name: str) -> int:
    """The planner's row count (kept by ANALYZE): a COUNT(*) of a month at this
    scale takes seconds, too slow for the admin page that shows it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = %s::regclass",
            [name],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _exists(cursor, name: str) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    return bool(cursor.fetchone()[0])


def _default_holds(cursor, default: str, key: str, bounds: list[datetime]) -> bool:
    if not _exists(cursor, default):
        return False
    quote = connection.ops.quote_name
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {quote(default)} "
        f"WHERE {quote(key)} >= %s AND {quote(key)} < %s)",
        bounds,
    )
    return bool(cursor.fetchone()[0])


def _columns(cursor, table: str) -> list[str]:
    cursor.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass "
        "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        [table],
    )
    return [row[0] for row in cursor.fetchall()]
