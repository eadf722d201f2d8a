"""Attribution columns on the call log (session, trace, step, end user, tags).

The btree indexes are partial (most calls carry no session or user) and are
declared on the model. The tags get a GIN index on PostgreSQL only,
built CONCURRENTLY like the trigram indexes of 0004 (hence ``atomic = False``):
it answers the explorer's ``tags @> '{"name": "value"}'`` and ``tags ? 'name'``
(the default ``jsonb_ops``; ``jsonb_path_ops`` would be smaller but cannot
answer ``?``).
"""

from django.db import migrations, models


def _add_tags_gin(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS llmcall_tags_gin "
        "ON llm_gateway_llmcall USING gin (tags)"
    )


def _remove_tags_gin(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS llmcall_tags_gin")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("llm_gateway", "0006_llmcall_refusals"),
    ]

    operations = [
        migrations.AddField(
            model_name="llmcall",
            name="end_user",
            field=models.CharField(blank=True, max_length=256),
        ),
        migrations.AddField(
            model_name="llmcall",
            name="parent_id",
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.AddField(
            model_name="llmcall",
            name="session_id",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="llmcall",
            name="span_id",
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.AddField(
            model_name="llmcall",
            name="step",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="llmcall",
            name="tags",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="llmcall",
            name="trace_id",
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.AddIndex(
            model_name="llmcall",
            index=models.Index(
                condition=models.Q(("session_id", ""), _negated=True),
                fields=["session_id", "created_at"],
                name="llmcall_session_time",
            ),
        ),
        migrations.AddIndex(
            model_name="llmcall",
            index=models.Index(
                condition=models.Q(("end_user", ""), _negated=True),
                fields=["end_user", "created_at"],
                name="llmcall_user_time",
            ),
        ),
        migrations.AddIndex(
            model_name="llmcall",
            index=models.Index(
                condition=models.Q(("trace_id", ""), _negated=True),
                fields=["trace_id", "created_at"],
                name="llmcall_trace_time",
            ),
        ),
        migrations.RunPython(_add_tags_gin, _remove_tags_gin, elidable=False),
    ]
