"""What the health engine needs to read events cheaply.

- A BRIN index on event_time: rows arrive roughly in time order, so a day's events sit in
  a narrow band of pages; the nightly run reads one day of a month's partition through it
  instead of the whole partition. It costs almost nothing to maintain.
- Statistics on the engine's grouping of a full rebuild (user, account, 15-minute bucket):
  without them the planner takes every event for its own group and will not aggregate in
  parallel workers. The parent of a partitioned table is never analyzed by autovacuum, so
  the engine analyzes it when these statistics are missing (health/engine/daily.py).
"""

from django.db import migrations

SQL = """
CREATE INDEX ingestion_event_time_brin ON ingestion_event
    USING brin (event_time) WITH (pages_per_range = 32);
CREATE STATISTICS ingestion_event_user_bucket (ndistinct)
    ON user_pk, account_pk,
       (date_bin('15 minutes', event_time, '2000-01-01 00:00:00+00'::timestamptz))
    FROM ingestion_event;
"""

DROP = """
DROP STATISTICS IF EXISTS ingestion_event_user_bucket;
DROP INDEX IF EXISTS ingestion_event_time_brin;
"""


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0005_partition_attach")]

    operations = [migrations.RunSQL(SQL, DROP)]
