"""Turning a populated table into a monthly-partitioned one, and back (migrations).

PostgreSQL cannot partition a table in place: a partitioned table is built
beside it (same columns, defaults and checks), its months created, the rows
moved, the old table dropped and the new one renamed into its place. Indexes
(the GIN tag and trigram indexes of migrations 0004 and 0007 and the partial
ones included) are read from the catalogue before the old table goes and
created again on the new parent, which builds them on every partition.

PostgreSQL requires the partition key in every unique index of a partitioned
table, so the primary key becomes ``(id, key)`` and a unique ``(call_id)``
becomes ``(call_id, call_created_at)``. Foreign keys INTO the table need a
unique index on the referenced columns alone, which no longer exists: they are
dropped, and the models declare them ``db_constraint=False`` (see the models
for why that is safe). Foreign keys OUT of the table are kept.

The table is locked against writes (reads go on) for the copy: a recorder that
meets the lock waits, and one that meets a failure retries its batch.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils import timezone

from calls.partitions import (
    MONTHS_AHEAD,
    default_partition_name,
    month_add,
    partition_name,
)
from common.buckets import month_start

# Rows older than this many months go to the default partition, not one partition
# a month back to the first row: retention deletes them from there.
MONTHS_BACK = 24


def table_rebuild(
    schema_editor,
    *,
    table: str,
    primary_key: Sequence[str],
    unique: dict[str, Sequence[str]] | None = None,
    partition_key: str | None = None,
) -> None:
    """Rebuild ``table`` partitioned by month on ``partition_key``, or, without
    one, as one plain table again (the way back). PostgreSQL only."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        _rebuild(cursor, schema_editor, table, primary_key, unique or {}, key=partition_key)


def foreign_keys_into_drop(schema_editor, *, table: str) -> None:
    """Drop every foreign key that points at ``table`` (a partitioned table's
    id alone is not unique, so none can point at it)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint "
            "WHERE confrelid = %s::regclass AND contype = 'f' AND conparentid = 0",
            [table],
        )
        for referrer, name in cursor.fetchall():
            schema_editor.execute(
                f"ALTER TABLE {referrer} DROP CONSTRAINT {schema_editor.quote_name(name)}"
            )


def _rebuild(cursor, schema_editor, table, primary_key, unique, *, key: str | None) -> None:
    quote = schema_editor.quote_name
    new = f"{table}__new"
    cursor.execute(f"LOCK TABLE {quote(table)} IN EXCLUSIVE MODE")
    indexes = _index_definitions(cursor, table)
    outgoing = _foreign_keys_out(cursor, table)
    partitioned = f" PARTITION BY RANGE ({quote(key)})" if key else ""
    cursor.execute(
        f"CREATE TABLE {quote(new)} (LIKE {quote(table)} INCLUDING DEFAULTS "
        f"INCLUDING CONSTRAINTS INCLUDING IDENTITY){partitioned}"
    )
    if key:
        _months_create(cursor, quote, table, new, key)
    cursor.execute(f"INSERT INTO {quote(new)} SELECT * FROM {quote(table)}")
    foreign_keys_into_drop(schema_editor, table=table)
    cursor.execute(f"DROP TABLE {quote(table)}")
    cursor.execute(f"ALTER TABLE {quote(new)} RENAME TO {quote(table)}")
    columns = [*primary_key, key] if key else list(primary_key)
    cursor.execute(
        f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(table + '_pkey')} "
        f"PRIMARY KEY ({', '.join(quote(c) for c in columns)})"
    )
    for name, fields in unique.items():
        fields = [*fields, key] if key else list(fields)
        cursor.execute(
            f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} "
            f"UNIQUE ({', '.join(quote(c) for c in fields)})"
        )
    for definition in indexes:
        cursor.execute(definition)
    for name, definition in outgoing:
        cursor.execute(f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}")
    _identity_continue(cursor, quote, table, primary_key)


def _months_create(cursor, quote, table: str, new: str, key: str) -> None:
    """A partition per month from the first row's (at most MONTHS_BACK back) to
    MONTHS_AHEAD after this one, and the default partition for anything else."""
    cursor.execute(f"SELECT MIN({quote(key)}) FROM {quote(table)}")
    now = timezone.now()
    oldest = month_add(month_start(now), -MONTHS_BACK)
    first = max(month_start(cursor.fetchone()[0] or now), oldest)
    month = first
    while month <= month_add(month_start(now), MONTHS_AHEAD):
        cursor.execute(
            f"CREATE TABLE {quote(partition_name(table, month))} PARTITION OF {quote(new)} "
            "FOR VALUES FROM (%s) TO (%s)",
            [month, month_add(month, 1)],
        )
        month = month_add(month, 1)
    cursor.execute(
        f"CREATE TABLE {quote(default_partition_name(table))} PARTITION OF {quote(new)} DEFAULT"
    )


def _index_definitions(cursor, table: str) -> list[str]:
    """CREATE INDEX statements of the table's indexes that back no constraint.

    A partitioned parent's definitions read ``ON ONLY``, which would build the
    index on the parent alone (and leave it invalid): the way back drops it."""
    cursor.execute(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = %s::regclass AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid "
        "AND c.conrelid = i.indrelid)",
        [table],
    )
    return [row[0].replace(" ON ONLY ", " ON ", 1) for row in cursor.fetchall()]


def _foreign_keys_out(cursor, table: str) -> list[tuple[str, str]]:
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f' AND conparentid = 0",
        [table],
    )
    return list(cursor.fetchall())


def _identity_continue(cursor, quote, table: str, primary_key: Sequence[str]) -> None:
    """LIKE ... INCLUDING IDENTITY starts a new sequence at 1: continue after the
    rows moved, or the next insert would reuse an id."""
    for column in primary_key:
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
        sequence = cursor.fetchone()[0]
        if sequence:
            cursor.execute(
                f"SELECT setval(%s, COALESCE(MAX({quote(column)}), 0) + 1, false) "
                f"FROM {quote(table)}",
                [sequence],
            )
