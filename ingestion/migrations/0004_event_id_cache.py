"""Event ids are taken a chunk at a time: a per-session cache avoids WAL-logging the
sequence every 32 values. Ids stay unique; across sessions they are not contiguous."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0003_ratelimit")]

    operations = [
        migrations.RunSQL(
            "ALTER SEQUENCE ingestion_event_id_seq CACHE 1000",
            "ALTER SEQUENCE ingestion_event_id_seq CACHE 1",
        )
    ]
