"""PostgreSQL Row-Level Security on every tenant table: the second wall behind the managers.

Runs as the owner (the DATABASE_URL user). It creates `vitals_app`, the role the running
application works as (it owns nothing, is no superuser and has no BYPASSRLS), grants it
the data privileges, and gives every table with an `organization_id` column ENABLE and
FORCE ROW LEVEL SECURITY with one policy: a row is visible and writable only when its
organization_id equals the transaction's `vitals.organization_id` setting. Unset, the
policy is false: a query that forgot its organization sees and writes nothing.

A later migration that adds a tenant table must call `SELECT vitals_rls_protect('table')`;
tests/security/test_row_level_security.py fails on any tenant table left out.

The few operations the application role may not do itself (planner statistics, monthly
event partitions) are SECURITY DEFINER functions owned by the owner that do one named thing.
"""

from django.db import migrations

APP_ROLE = "vitals_app"

SQL = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
EXCEPTION WHEN duplicate_object THEN
    NULL;  -- another database of this cluster created it meanwhile (roles are cluster-wide)
END;
$$;

-- The owner switches to the role with SET ROLE on each new connection.
DO $$
BEGIN
    IF NOT pg_has_role(current_user, '{APP_ROLE}', 'MEMBER') THEN
        EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);
    END IF;
END;
$$;

GRANT USAGE ON SCHEMA public TO {APP_ROLE};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE};
REVOKE INSERT, UPDATE, DELETE ON django_migrations FROM {APP_ROLE};
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE};
-- Tables and sequences later migrations (and the partition function) create.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {APP_ROLE};

-- ENABLE + FORCE row-level security with the organization policy on one tenant table.
-- Idempotent: a later migration that adds a tenant table calls it for that table.
CREATE FUNCTION vitals_rls_protect(target regclass) RETURNS void
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', target);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', target);
    EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', target);
    EXECUTE format(
        'CREATE POLICY tenant_isolation ON %s FOR ALL TO PUBLIC'
        ' USING (organization_id = '
        ' nullif(current_setting(''vitals.organization_id'', true), '''')::bigint)'
        ' WITH CHECK (organization_id = '
        ' nullif(current_setting(''vitals.organization_id'', true), '''')::bigint)',
        target
    );
END;
$$;
REVOKE ALL ON FUNCTION vitals_rls_protect(regclass) FROM PUBLIC;

SELECT vitals_rls_protect(c.oid)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public'
  AND c.relkind IN ('r', 'p')
  AND EXISTS (
      SELECT FROM pg_attribute a
      WHERE a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped
  );

-- ANALYZE needs ownership: planner statistics for the named tables of this schema only
-- (temporary tables belong to the role that made them and are analyzed directly).
CREATE FUNCTION vitals_analyze(tables text[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    target regclass;
BEGIN
    FOR target IN
        SELECT c.oid::regclass FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname = ANY(tables)
        ORDER BY array_position(tables, c.relname::text)
    LOOP
        EXECUTE format('ANALYZE %s', target);
    END LOOP;
END;
$$;
REVOKE ALL ON FUNCTION vitals_analyze(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vitals_analyze(text[]) TO {APP_ROLE};

-- Whether ingestion_event's extended statistics were ever gathered (pg_statistic_ext_data
-- is readable by superusers only).
CREATE FUNCTION vitals_event_statistics_ready() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT EXISTS (
        SELECT FROM pg_statistic_ext s
        JOIN pg_statistic_ext_data d ON d.stxoid = s.oid
        WHERE s.stxname = 'ingestion_event_user_bucket'
    )
$$;
REVOKE ALL ON FUNCTION vitals_event_statistics_ready() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vitals_event_statistics_ready() TO {APP_ROLE};

-- Monthly event partitions: CREATE TABLE and ATTACH PARTITION need the owner. Each new
-- partition gets the tenant policy too, for queries that name a partition directly.
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

REVERSE = f"""
DO $$
DECLARE
    target regclass;
BEGIN
    FOR target IN
        SELECT p.polrelid::regclass FROM pg_policy p WHERE p.polname = 'tenant_isolation'
    LOOP
        EXECUTE format('DROP POLICY tenant_isolation ON %s', target);
        EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', target);
        EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', target);
    END LOOP;
END;
$$;
DROP FUNCTION IF EXISTS vitals_event_statistics_ready();
DROP FUNCTION IF EXISTS vitals_analyze(text[]);
DROP FUNCTION IF EXISTS vitals_rls_protect(regclass);
ALTER FUNCTION vitals_ensure_event_partition(date) SECURITY INVOKER;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {APP_ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    REVOKE USAGE, SELECT, UPDATE ON SEQUENCES FROM {APP_ROLE};
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE};
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE};
REVOKE ALL ON SCHEMA public FROM {APP_ROLE};
"""


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0001_initial"),
        ("accounts_explorer", "0001_bookmark"),
        ("api", "0001_initial"),
        ("health", "0010_usage_arrays"),
        ("ingestion", "0006_event_time_brin"),
        ("settings_admin", "0001_audit_entry"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
