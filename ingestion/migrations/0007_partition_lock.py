"""Serialize partition creation with a table lock instead of an advisory lock.

Two chunks that both missed a month's partition raced: the second waited on the advisory
lock, then re-checked `to_regclass` against a catalog cache that had not seen the first
one's commit (taking an advisory lock does not make a backend read invalidations), and
failed with "relation ... already exists", a 500 on the API
(tests/ingestion/test_concurrent_ingest.py). Locking ingestion_event in SHARE UPDATE
EXCLUSIVE mode, which conflicts with itself but not with readers and writers, and which
ATTACH PARTITION takes anyway, serializes the creators and refreshes the catalog cache
before the re-check. Otherwise the function is the one of tenancy 0002 (row-level
security): owner's rights, the tenant policy on each new partition.
"""

from django.db import migrations

APP_ROLE = "vitals_app"  # as in tenancy 0002

SQL = f"""
CREATE OR REPLACE FUNCTION vitals_ensure_event_partition(month_start date) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
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
            LOCK TABLE ingestion_event IN SHARE UPDATE EXCLUSIVE MODE;
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
                PERFORM vitals_rls_protect(partition_name::regclass);
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
REVOKE ALL ON FUNCTION vitals_ensure_event_partition(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vitals_ensure_event_partition(date) TO {APP_ROLE};
"""


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0006_event_time_brin"),
        ("tenancy", "0002_row_level_security"),
    ]

    operations = [migrations.RunSQL(SQL, migrations.RunSQL.noop)]
