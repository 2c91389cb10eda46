"""Fixed-window rate-limit counters for the tracking API, in PostgreSQL.

UNLOGGED: counters are worth nothing after a crash (PostgreSQL empties the table on
recovery, which only forgives the current minute), and skipping the WAL keeps the one
upsert per request cheap. Ingestion must not depend on Redis being up.

No foreign key to the write key on purpose: it would make TRUNCATE of tenancy_writekey
(Django's test flush) fail, and a deleted key leaves at most one stale row behind.
"""

from django.db import migrations

CREATE = """
CREATE UNLOGGED TABLE ingestion_ratelimitwindow (
    write_key_id bigint NOT NULL,
    window_start timestamptz NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (write_key_id, window_start)
);
"""

DROP = "DROP TABLE ingestion_ratelimitwindow;"


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0002_event_partitions")]

    operations = [migrations.RunSQL(CREATE, DROP)]
