"""Usage days per account as arrays by catalog position (health/engine/state/usage.py):
a night raises them with one expression per feature instead of rebuilding JSON objects."""

import django.contrib.postgres.fields
from django.db import migrations, models

SQL = """
ALTER TABLE health_account_state
    ALTER COLUMN feature_last DROP DEFAULT,
    ALTER COLUMN feature_last TYPE date[] USING '{}',
    ALTER COLUMN feature_last SET DEFAULT '{}',
    ALTER COLUMN module_last DROP DEFAULT,
    ALTER COLUMN module_last TYPE date[] USING '{}',
    ALTER COLUMN module_last SET DEFAULT '{}';
-- States built with JSON usage are rebuilt by the next run.
UPDATE health_rollupstate SET state_as_of = NULL;
"""

REVERSE = """
ALTER TABLE health_account_state
    ALTER COLUMN feature_last DROP DEFAULT,
    ALTER COLUMN feature_last TYPE jsonb USING '{}',
    ALTER COLUMN feature_last SET DEFAULT '{}',
    ALTER COLUMN module_last DROP DEFAULT,
    ALTER COLUMN module_last TYPE jsonb USING '{}',
    ALTER COLUMN module_last SET DEFAULT '{}';
UPDATE health_rollupstate SET state_as_of = NULL;
"""


class Migration(migrations.Migration):
    dependencies = [("health", "0009_account_health_writes")]

    operations = [
        migrations.RunSQL(SQL, REVERSE),
        migrations.AlterField(
            model_name="accountstate",
            name="feature_last",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.DateField(null=True), size=None
            ),
        ),
        migrations.AlterField(
            model_name="accountstate",
            name="module_last",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.DateField(null=True), size=None
            ),
        ),
        migrations.AddField(
            model_name="rollupstate",
            name="usage_features",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(max_length=500), blank=True, default=list, size=None
            ),
        ),
        migrations.AddField(
            model_name="rollupstate",
            name="usage_modules",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(max_length=500), blank=True, default=list, size=None
            ),
        ),
    ]
