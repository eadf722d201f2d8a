"""The call log, range-partitioned by month on PostgreSQL (calls.partitions).

Existing rows move into their months (calls.partition_convert): the table is
rebuilt while writes wait, so on a large log run it in a quiet hour (about a
minute per few million rows on modest hardware). The primary key becomes
``(id, created_at)``: PostgreSQL wants the partition key in every unique index.
``id`` stays unique in practice (a uuid4 per call) and is what Django looks rows
up by; the recorder's exactly-once rule still holds on the database's word,
because a record replayed carries its own id and ``created_at`` and so meets
its own row. SQLite keeps one table: nothing happens there.
"""

from django.db import migrations

from calls.partition_convert import table_rebuild

TABLE = "llm_gateway_llmcall"


def _forwards(apps, schema_editor) -> None:
    table_rebuild(schema_editor, table=TABLE, primary_key=["id"], partition_key="created_at")


def _backwards(apps, schema_editor) -> None:
    table_rebuild(schema_editor, table=TABLE, primary_key=["id"])


class Migration(migrations.Migration):
    # After every migration that creates a foreign key into the call log: on a
    # fresh database those constraints could not be created once it is partitioned.
    dependencies = [
        ("llm_gateway", "0009_llmcall_sort_indexes"),
        ("validation", "0005_feedback"),
    ]

    operations = [
        migrations.RunPython(_forwards, _backwards, elidable=False),
    ]
