from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("llm_gateway", "0004_llmcall_search_trigram"),
    ]

    operations = [
        migrations.AddField(
            model_name="llmcall",
            name="operation",
            field=models.CharField(default="chat", max_length=16),
        ),
    ]
