"""The engine's second design (health/engine/): compact daily rollups and window states.

- health_user_day replaces health_daily_activity: one row per (day, account, user) instead
  of per event key, with the core items used as bit masks and the sessions that start
  there; it is ~10x smaller and every window metric reads it.
- health_pair_state and health_account_state hold the window sums of the newest as-of day,
  so the nightly run moves them forward by the days that enter and leave the windows
  instead of re-reading 210 days.
- Drill-down lists are read from these tables when a page asks, not stored per account.
"""

from django.db import migrations, models

SQL = """
DROP TABLE health_daily_activity;

-- One row per (product, day in the organization's time zone, account, user).
CREATE TABLE health_user_day (
    organization_id bigint NOT NULL,
    product_id bigint NOT NULL,
    day date NOT NULL,
    account_pk bigint NOT NULL,
    user_pk bigint NOT NULL,
    events integer NOT NULL,
    core_lo bigint NOT NULL,           -- core items 1..64 used that day, as bits
    core_hi bigint NOT NULL,           -- core items 65..128
    core_events integer NOT NULL,      -- events matching at least one core item
    first_at timestamptz NOT NULL,
    last_at timestamptz NOT NULL,
    with_context_group boolean NOT NULL,
    visits integer NOT NULL,           -- sessions of the user starting here in this account
    session_seconds double precision NOT NULL,
    -- events per event key, for the drill-down's features (days from RollupState.keys_from)
    key_ids integer[],
    key_events integer[],
    PRIMARY KEY (product_id, account_pk, user_pk, day)
);
CREATE INDEX health_user_day_day ON health_user_day (product_id, day);
CREATE INDEX health_user_day_context ON health_user_day (organization_id, user_pk)
    WHERE with_context_group;

-- Sessions whose end is near a touched day are found by their end.
CREATE INDEX health_session_end ON health_session (product_id, ended_at);

-- Per (account, user) as of RollupState.state_as_of (D): the days and core items that the
-- windows need, kept as "latest day <= D" and "latest day <= D-30" so that moving D only
-- ever raises them.
CREATE TABLE health_pair_state (
    organization_id bigint NOT NULL,
    product_id bigint NOT NULL,
    account_pk bigint NOT NULL,
    user_pk bigint NOT NULL,
    first_at timestamptz NOT NULL,
    last_at timestamptz NOT NULL,
    last_day date NOT NULL,            -- latest active day <= D
    last_day_p date,                   -- latest active day <= D-30
    item_last date[] NOT NULL,         -- per core item: latest day <= D it was used
    item_last_p date[] NOT NULL,       -- per core item: latest day <= D-30
    visits_lifetime integer NOT NULL,  -- sessions started here up to D
    items_w smallint NOT NULL,         -- core items used in W (D-29..D)
    items_p smallint NOT NULL,         -- core items used in P (D-59..D-30)
    risk_w boolean NOT NULL,           -- a user at risk in W
    risk_p boolean NOT NULL,
    PRIMARY KEY (product_id, account_pk, user_pk)
);
CREATE INDEX health_pair_state_risk ON health_pair_state (product_id, user_pk) WHERE risk_w;
CREATE INDEX health_pair_state_risk_p ON health_pair_state (product_id, user_pk) WHERE risk_p;

-- Per account as of D: the sums every KPI of W and P is made of.
CREATE TABLE health_account_state (
    organization_id bigint NOT NULL,
    product_id bigint NOT NULL,
    account_pk bigint NOT NULL,
    mau_w integer NOT NULL, mau_p integer NOT NULL,
    items_w integer NOT NULL, items_p integer NOT NULL,
    history_w integer NOT NULL, history_p integer NOT NULL,
    risk_w integer NOT NULL, risk_p integer NOT NULL,
    users_lifetime integer NOT NULL,
    dau_w integer NOT NULL, dau_p integer NOT NULL,
    wau_w integer NOT NULL, wau_p integer NOT NULL,
    visits_w integer NOT NULL, visits_p integer NOT NULL,
    seconds_w double precision NOT NULL, seconds_p double precision NOT NULL,
    visits_lifetime integer NOT NULL,
    first_at timestamptz,
    last_at timestamptz,
    -- the latest day in W each catalog feature (module) was used: {"key": "2026-10-31"}
    feature_last jsonb NOT NULL DEFAULT '{}',
    module_last jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (product_id, account_pk)
);
"""

DROP = """
DROP TABLE IF EXISTS health_account_state;
DROP TABLE IF EXISTS health_pair_state;
DROP INDEX IF EXISTS health_session_end;
DROP TABLE IF EXISTS health_user_day;
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
"""


class Migration(migrations.Migration):
    dependencies = [("health", "0006_rule_matches_function")]

    operations = [
        migrations.RunSQL(SQL, DROP),
        migrations.RemoveField(model_name="accounthealth", name="drilldown"),
        migrations.AddField(
            model_name="rollupstate",
            name="state_as_of",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="rollupstate",
            name="state_signature",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="rollupstate",
            name="keys_from",
            field=models.DateField(blank=True, null=True),
        ),
        # The usage filters read health_account_state through this unmanaged model.
        migrations.CreateModel(
            name="AccountState",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "product_id",
                        "account_pk",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("product_id", models.BigIntegerField()),
                ("account_pk", models.BigIntegerField()),
                ("feature_last", models.JSONField()),
                ("module_last", models.JSONField()),
            ],
            options={"db_table": "health_account_state", "managed": False},
        ),
    ]
