"""Trigram indexes for the request explorer's text search (PostgreSQL only).

The search (``llm_gateway.selectors._search``) is ``icontains`` over four
columns, which Django writes as ``UPPER(col::text) LIKE UPPER('%q%')``. Without
an index Postgres can only walk the keyset index and test every row: fine for
a common term, a scan of the whole window for a rare one (1 M rows for a term
that matches nothing). A GIN ``gin_trgm_ops`` index on the same ``UPPER(col)``
expression answers the LIKE from the index, and being an expression index it
also gives the planner statistics on ``UPPER(col)``, so it can estimate how
rare a term is and pick the walk or the index accordingly.

Not declared in ``LLMCall.Meta.indexes``: the project also runs on SQLite,
which has neither GIN nor pg_trgm, so both operations do nothing there. The
indexes are built CONCURRENTLY (hence ``atomic = False``): the call log is
written all the time and a plain CREATE INDEX would block the recorder.

The index SQL is written out rather than built from ``GinIndex(OpClass(...))``:
Django only parenthesises an ``OpClass`` expression correctly once
``django.contrib.postgres`` is an installed app, and installing it for one
migration would register its lookups and type handlers everywhere.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

SEARCHED_COLUMNS = ("agent_name", "model", "error_type", "error_message")


class PostgresTrigramExtension(TrigramExtension):
    """Django's CreateExtension skips other databases going forwards, but going
    backwards it queries pg_extension on any database (SQLite has no such table)."""

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def _add(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in SEARCHED_COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS llmcall_{column}_trgm "
            f"ON llm_gateway_llmcall USING gin ((UPPER({column}::text)) gin_trgm_ops)"
        )


def _remove(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in SEARCHED_COLUMNS:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS llmcall_{column}_trgm")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("llm_gateway", "0003_gatewaykey_cache"),
    ]

    operations = [
        PostgresTrigramExtension(),
        migrations.RunPython(_add, _remove, elidable=False),
    ]
