"""Budgets for one end user, or one tag (name=value): new scope choices."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('costs', '0007_modelprice_cache_write_1h'),
    ]

    operations = [
        migrations.AlterField(
            model_name='budget',
            name='scope',
            field=models.CharField(choices=[('global', 'All traffic'), ('agent', 'One agent'), ('key', 'One gateway key'), ('model', 'One model'), ('user', 'One end user'), ('tag', 'One tag (name=value)')], default='global', max_length=16),
        ),
        migrations.AlterField(
            model_name='budget',
            name='scope_value',
            field=models.CharField(blank=True, help_text='Agent name, gateway-key prefix (e.g. gw_1a2b3c4d), model, end user, or tag as name=value; blank for global.', max_length=200),
        ),
    ]
