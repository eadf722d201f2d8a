from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("llm_gateway", "0007_llmcall_attribution"),
    ]

    operations = [
        migrations.AddField(
            model_name="gatewaykey",
            name="allowed_agent_names",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="Agent names (or fnmatch patterns) this key may set in X-Agent-Name, "
                "besides its own agent; empty means its own agent only.",
            ),
        ),
    ]
