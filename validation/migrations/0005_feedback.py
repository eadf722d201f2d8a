"""Feedback on calls (scores from end users, reviewers, evals)."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("llm_gateway", "0001_initial"),
        ("validation", "0004_policy_severities"),
    ]

    operations = [
        migrations.CreateModel(
            name="Feedback",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(default="user", max_length=64)),
                (
                    "score",
                    models.FloatField(help_text="From -1 (bad) to 1 (good); thumbs are 0/1."),
                ),
                ("comment", models.TextField(blank=True)),
                ("agent_name", models.CharField(blank=True, max_length=200)),
                ("model", models.CharField(blank=True, max_length=200)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "call",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="feedback",
                        to="llm_gateway.llmcall",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
                "indexes": [
                    models.Index(fields=["created_at"], name="feedback_time"),
                    models.Index(fields=["agent_name", "created_at"], name="feedback_agent_time"),
                ],
            },
        ),
    ]
