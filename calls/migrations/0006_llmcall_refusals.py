"""Refusal rows: two more statuses (choices only, nothing changes in the
database) and ``occurrences``, the number of calls a row stands for.

``occurrences`` has a constant default, so on PostgreSQL 11+ adding it is a
catalogue change, not a rewrite of the call log; it has no CHECK for the same
reason (validating one would scan every row under an exclusive lock).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("llm_gateway", "0005_llmcall_operation"),
    ]

    operations = [
        migrations.AddField(
            model_name="llmcall",
            name="occurrences",
            field=models.IntegerField(default=1),
        ),
        migrations.AlterField(
            model_name="llmcall",
            name="status",
            field=models.CharField(
                choices=[
                    ("success", "Success"),
                    ("error", "Error"),
                    ("client_disconnected", "Client Disconnected"),
                    ("blocked", "Blocked"),
                    ("rate_limited", "Rate Limited"),
                    ("unauthorized", "Unauthorized"),
                ],
                default="success",
                max_length=32,
            ),
        ),
    ]
