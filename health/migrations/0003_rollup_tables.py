"""Rollups the engine rebuilds with set-based SQL (not ORM models: Django never writes them)."""

from django.db import migrations

SQL = """
-- Activity per product, day (organization time zone), account, user and event key.
CREATE TABLE health_daily_activity (
    organization_id bigint NOT NULL,
    product_id bigint NOT NULL,
    day date NOT NULL,
    account_pk bigint NOT NULL,
    user_pk bigint NOT NULL,
    event_key_id integer NOT NULL,
    events integer NOT NULL,
    first_at timestamptz NOT NULL,
    last_at timestamptz NOT NULL,
    with_context_group boolean NOT NULL
);
CREATE INDEX health_daily_activity_day ON health_daily_activity (product_id, day);

-- Sessions: a user's activity split at gaps of 30 minutes or more (SPEC section 5).
CREATE TABLE health_session (
    organization_id bigint NOT NULL,
    product_id bigint NOT NULL,
    user_pk bigint NOT NULL,
    account_pk bigint,
    day date NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at timestamptz NOT NULL,
    events integer NOT NULL
);
CREATE INDEX health_session_day ON health_session (product_id, day);

-- Glob of a page rule ('*' = any run of characters) as a LIKE pattern.
CREATE FUNCTION vitals_glob_to_like(glob text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT replace(replace(replace(replace(glob, '\\', '\\\\'), '%', '\\%'), '_', '\\_'), '*', '%')
$$;
"""

DROP = """
DROP FUNCTION IF EXISTS vitals_glob_to_like(text);
DROP TABLE IF EXISTS health_session;
DROP TABLE IF EXISTS health_daily_activity;
"""


class Migration(migrations.Migration):
    dependencies = [("health", "0002_accounthealth_healthrun_portfoliohealth")]

    operations = [migrations.RunSQL(SQL, DROP)]
