"""Validation results and feedback, partitioned by their call's month (PostgreSQL).

Both grow with the call log, one row per call or more, so they are cut the
same way and retention drops a month of them with the month's calls: each row
gets ``call_created_at`` (its call's ``created_at``, backfilled here) as the
partition key. Their foreign keys to the call log can no longer be database
constraints (the call log's id alone is not a unique key once it is
partitioned; the models say how integrity is kept), so the state says
``db_constraint=False``; SQLite keeps its constraints and its plain tables.
The one-result-per-call rule is kept as UNIQUE (call_id, call_created_at),
which is the same thing, the second column being a function of the first.

Going back restores plain tables but not the foreign-key constraints (the
call log is still partitioned when this is undone).
"""

import django.db.models.deletion
from django.db import migrations, models

from calls.partition_convert import foreign_keys_into_drop, table_rebuild

RESULTS = "validation_validationresult"
FEEDBACK = "validation_feedback"
ONE_RESULT_PER_CALL = {"validation_validationresult_call_id_key": ["call_id"]}
BACKFILL = (
    "UPDATE {table} SET call_created_at = COALESCE("
    "(SELECT c.created_at FROM llm_gateway_llmcall c WHERE c.id = {table}.call_id), "
    "{table}.created_at)"
)


def _partition(apps, schema_editor) -> None:
    foreign_keys_into_drop(schema_editor, table="llm_gateway_llmcall")
    for table, unique in ((RESULTS, ONE_RESULT_PER_CALL), (FEEDBACK, None)):
        table_rebuild(
            schema_editor,
            table=table,
            primary_key=["id"],
            unique=unique,
            partition_key="call_created_at",
        )


def _unpartition(apps, schema_editor) -> None:
    for table, unique in ((RESULTS, ONE_RESULT_PER_CALL), (FEEDBACK, None)):
        table_rebuild(schema_editor, table=table, primary_key=["id"], unique=unique)


def _call_field(one_to_one: bool):
    kind = models.OneToOneField if one_to_one else models.ForeignKey
    return kind(
        db_constraint=False,
        on_delete=django.db.models.deletion.CASCADE,
        related_name="validation" if one_to_one else "feedback",
        to="llm_gateway.llmcall",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("llm_gateway", "0010_llmcall_partitions"),
        ("validation", "0005_feedback"),
    ]

    operations = [
        *(
            migrations.AddField(
                model_name=model,
                name="call_created_at",
                field=models.DateTimeField(editable=False, null=True),
            )
            for model in ("validationresult", "feedback")
        ),
        migrations.RunSQL(
            [BACKFILL.format(table=RESULTS), BACKFILL.format(table=FEEDBACK)],
            migrations.RunSQL.noop,
        ),
        *(
            migrations.AlterField(
                model_name=model,
                name="call_created_at",
                field=models.DateTimeField(editable=False),
            )
            for model in ("validationresult", "feedback")
        ),
        # State only: the constraints are dropped by _partition on PostgreSQL and
        # kept on SQLite (where nothing is partitioned and they cost nothing).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="validationresult", name="call", field=_call_field(True)
                ),
                migrations.AlterField(model_name="feedback", name="call", field=_call_field(False)),
            ],
        ),
        migrations.RunPython(_partition, _unpartition, elidable=False),
    ]
