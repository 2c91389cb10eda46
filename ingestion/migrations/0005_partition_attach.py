"""Create monthly partitions with ATTACH PARTITION instead of CREATE TABLE ... PARTITION OF.

CREATE ... PARTITION OF takes an ACCESS EXCLUSIVE lock on ingestion_event, so a new month
waited for every open reader (a long health run) and all ingestion queued behind it.
ATTACH takes SHARE UPDATE EXCLUSIVE, which readers and writers do not conflict with.
The next month is created ahead as well, so the boundary is crossed before traffic does.
"""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION vitals_ensure_event_partition(month_start date) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    first_day date;
    partition_name text;
    month_offset int;
BEGIN
    FOR month_offset IN 0..1 LOOP
        first_day := (date_trunc('month', month_start) + make_interval(months => month_offset))::date;
        partition_name := 'ingestion_event_' || to_char(first_day, 'YYYYMM');
        IF to_regclass(partition_name) IS NULL THEN
            -- Concurrent batches may want the same month: the second waits, then finds it.
            PERFORM pg_advisory_xact_lock(hashtext('vitals_event_partition'));
            IF to_regclass(partition_name) IS NULL THEN
                EXECUTE format(
                    'CREATE TABLE %I (LIKE ingestion_event INCLUDING DEFAULTS)', partition_name
                );
                EXECUTE format(
                    'ALTER TABLE %I ADD CONSTRAINT %I CHECK (event_time >= %L AND event_time < %L)',
                    partition_name, partition_name || '_range',
                    first_day::timestamp AT TIME ZONE 'UTC',
                    (first_day + interval '1 month')::timestamp AT TIME ZONE 'UTC'
                );
                EXECUTE format(
                    'ALTER TABLE ingestion_event ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                    partition_name,
                    first_day::timestamp AT TIME ZONE 'UTC',
                    (first_day + interval '1 month')::timestamp AT TIME ZONE 'UTC'
                );
            END IF;
        END IF;
    END LOOP;
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0004_event_id_cache")]

    operations = [migrations.RunSQL(SQL, migrations.RunSQL.noop)]
