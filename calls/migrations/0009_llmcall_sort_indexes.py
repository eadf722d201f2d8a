"""Keyset indexes for the request explorer's cost and latency orders."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("llm_gateway", "0008_gatewaykey_allowed_agent_names"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="llmcall",
            index=models.Index(fields=["-cost", "-id"], name="llmcall_cost_keyset"),
        ),
        migrations.AddIndex(
            model_name="llmcall",
            index=models.Index(fields=["-latency_ms", "-id"], name="llmcall_latency_keyset"),
        ),
    ]
