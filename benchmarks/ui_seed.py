"""The 100,000-account organization `bench-ui` that `make bench-ui` measures (bench_ui.py).

Built once with set-based SQL in one transaction and reused while its marker (the
organization's name) matches: the conformance catalog and settings (config_import), the
event keys of the synthetic dataset, 100,000 accounts with their AccountHealth rows for
the as-of day D and the HISTORY_DAYS before it (the engine keeps one row per account and
as-of day), health_account_state (the usage filters' arrays) for every account, and for
the DRILLED accounts what a drill-down reads: users, memberships, health_user_day rows
over DAYS days with per-key event counts in W, their pair state, and 90 days of
AccountHealth history; every other account has a few daily rows in W.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

ORG = "bench-ui"
PRODUCT = "app"
ACCOUNTS = 100_000
AS_OF = date(2026, 6, 30)
HISTORY_DAYS = 6  # as-of days before D with a row for every account
TREND_DAYS = 90  # as-of days with a row for the drilled accounts (the trend chart)
DAYS = 200  # days of health_user_day for the drilled accounts (lifetime, 180-day history)
EMAIL = "bench-ui@vitals.test"
# Drilled accounts: external id -> users. The largest is the synthetic dataset's largest
# (~1% of 200,000 users); the others are a mid-sized and a typical account.
DRILLED = {"acc-000007": 2_000, "acc-000042": 200, "acc-000099": 12}
VERSION = 3
MARKER = f"Bench UI v{VERSION} ({ACCOUNTS} accounts, {HISTORY_DAYS + 1} days, as of {AS_OF})"


@dataclass(frozen=True)
class Seeded:
    organization: Any
    product: Any
    user: Any


_ACCOUNTS_SQL = """
INSERT INTO ingestion_account (organization_id, external_id, name, traits, first_seen_at)
SELECT %(org)s, 'acc-' || lpad(i::text, 6, '0'),
       (ARRAY['Acme', 'Globex', 'Initech', 'Umbrella', 'Stark', 'Wayne'])[1 + i %% 6]
           || ' ' || (ARRAY['Inc', 'GmbH', 'Ltd', 'Labs'])[1 + i %% 4] || ' ' || i,
       jsonb_build_object(
           'plan', (ARRAY['Free', 'Starter', 'Pro', 'Enterprise'])[1 + i %% 4],
           'industry', (ARRAY['Retail', 'Healthcare', 'Finance', 'Media', 'SaaS'])[1 + i %% 5],
           'employees', 5 + (i * 37) %% 5000,
           'country', (ARRAY['India', 'Brazil', 'Germany', 'United States'])[1 + i %% 4],
           'region', (ARRAY['APAC', 'LATAM', 'EMEA', 'NA'])[1 + i %% 4],
           'status', CASE WHEN i %% 10 = 0 THEN 'lead' ELSE 'customer' END,
           'website', 'https://acc-' || i || '.example.com',
           'seats', 1 + i %% 250),
       %(as_of)s::timestamptz - (i %% 700) * interval '1 day'
FROM generate_series(1, %(n)s) AS i
"""

# One as-of day's rows; %(shift)s days before D the numbers drift a little.
_HEALTH_SQL = """
INSERT INTO health_accounthealth (
    organization_id, product_id, as_of, account_id,
    active_users, active_users_prev, avg_dau, avg_dau_prev, avg_wau, avg_wau_prev,
    stickiness, stickiness_prev, core_feature_usage, core_feature_usage_prev,
    active_user_coverage, active_user_coverage_prev, product_score, product_score_prev,
    health, health_prev, cfu_band, coverage_band, stickiness_band,
    users_at_risk, users_at_risk_prev, visits, visits_prev,
    avg_session_seconds, avg_session_seconds_prev, users_lifetime, visits_lifetime,
    product_first_seen, product_last_seen, last_seen, created_date)
SELECT %(org)s, %(product)s, %(day)s, id,
       mau, mau_prev, mau * 0.3, mau_prev * 0.3, mau * 0.6, mau_prev * 0.6,
       CASE WHEN mau > 0 THEN stk END, CASE WHEN mau_prev > 0 THEN stk * 0.9 END,
       CASE WHEN mau > 0 THEN cfu END, CASE WHEN mau_prev > 0 THEN cfu * 1.1 END,
       CASE WHEN mau > 0 THEN cov END, CASE WHEN mau_prev > 0 THEN cov * 0.95 END,
       CASE WHEN mau > 0 THEN (cfu + stk) / 2 END,
       CASE WHEN mau_prev > 0 THEN (cfu * 1.1 + stk * 0.9) / 2 END,
       CASE WHEN mau = 0 THEN 'Inactive' WHEN (cfu + stk) / 2 < 25 THEN 'At Risk'
            WHEN (cfu + stk) / 2 < 45 THEN 'Neutral' ELSE 'Healthy' END,
       CASE WHEN mau_prev = 0 THEN 'Inactive'
            WHEN (cfu * 1.1 + stk * 0.9) / 2 < 25 THEN 'At Risk'
            WHEN (cfu * 1.1 + stk * 0.9) / 2 < 45 THEN 'Neutral' ELSE 'Healthy' END,
       CASE WHEN mau = 0 THEN '' WHEN cfu < 30 THEN 'Low'
            WHEN cfu < 60 THEN 'Moderate' ELSE 'High' END,
       CASE WHEN mau = 0 THEN '' WHEN cov < 40 THEN 'Low'
            WHEN cov < 70 THEN 'Moderate' ELSE 'High' END,
       CASE WHEN mau = 0 THEN '' WHEN stk < 15 THEN 'Low'
            WHEN stk < 30 THEN 'Moderate' ELSE 'High' END,
       n %% 7, n %% 5, mau * 9, mau_prev * 8,
       CASE WHEN mau > 0 THEN 300 + n %% 900 END, CASE WHEN mau_prev > 0 THEN 280 + n %% 800 END,
       mau + 3, mau * 40 + 10,
       %(day)s::timestamptz - interval '400 days',
       CASE WHEN mau > 0 THEN %(day)s::timestamptz - (n %% 30) * interval '1 day'
            ELSE %(day)s::timestamptz - (30 + n %% 300) * interval '1 day' END,
       %(day)s::timestamptz - (n %% 30) * interval '1 day' + (n %% 86400) * interval '1 second',
       %(as_of)s::date - (n %% 700)::int
FROM (
    SELECT id, n,
           CASE WHEN n %% 5 = 0 THEN 0 ELSE 1 + (n + %(shift)s) %% 40 END AS mau,
           CASE WHEN n %% 6 = 0 THEN 0 ELSE 1 + n %% 35 END AS mau_prev,
           ((n + %(shift)s) * 7919 %% 1000) / 10.0::float8 AS cfu,
           (n * 104729 %% 500) / 10.0::float8 AS stk,
           (n * 15485863 %% 1000) / 10.0::float8 AS cov
    FROM (SELECT id, substr(external_id, 5)::bigint AS n FROM ingestion_account
          WHERE organization_id = %(org)s {accounts}) a
) s
"""

# Usage arrays by catalog position: the latest day in the last 60 days each feature
# (module) was used, or NULL; about a third of the pairs unused.
_ACCOUNT_STATE_SQL = """
INSERT INTO health_account_state (
    organization_id, product_id, account_pk, mau_w, mau_p, items_w, items_p, history_w,
    history_p, risk_w, risk_p, users_lifetime, dau_w, dau_p, wau_w, wau_p, visits_w,
    visits_p, seconds_w, seconds_p, visits_lifetime, first_at, last_at, feature_last,
    module_last)
SELECT %(org)s, %(product)s, a.id, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 60, 60, 1,
       %(as_of)s::timestamptz - interval '400 days', %(as_of)s::timestamptz,
       ARRAY(SELECT CASE WHEN (a.id * 31 + f * 17) %% 3 > 0
                         THEN %(as_of)s::date - ((a.id + f) %% 60)::int END
             FROM generate_series(1, %(features)s) f),
       ARRAY(SELECT CASE WHEN (a.id * 13 + m * 7) %% 3 > 0
                         THEN %(as_of)s::date - ((a.id + m) %% 60)::int END
             FROM generate_series(1, %(modules)s) m)
FROM ingestion_account a WHERE a.organization_id = %(org)s
"""

_USERS_SQL = """
WITH users AS (
    INSERT INTO ingestion_enduser (organization_id, external_id, traits, first_seen_at)
    SELECT %(org)s, %(account)s || '-u' || lpad(u::text, 5, '0'),
           jsonb_build_object('name', 'User ' || u, 'email', 'u' || u || '@example.com'),
           %(as_of)s::timestamptz - interval '300 days'
    FROM generate_series(1, %(users)s) u
    RETURNING id
)
INSERT INTO ingestion_accountmembership (organization_id, product_id, user_id, account_id,
                                         event_time, event_id)
SELECT %(org)s, %(product)s, id, %(account_pk)s,
       %(as_of)s::timestamptz - interval '300 days', id
FROM users
"""

# A user is active on a day with a probability of 5-65% (by user); from keys_from on a
# day carries 2-6 event keys with their counts.
_USER_DAY_SQL = """
INSERT INTO health_user_day (organization_id, product_id, day, account_pk, user_pk, events,
    core_lo, core_hi, core_events, first_at, last_at, with_context_group, visits,
    session_seconds, key_ids, key_events)
SELECT %(org)s, %(product)s, d.day, %(account_pk)s, u.id, 5 + h %% 40, h %% 32, 0, h %% 9,
       d.day + interval '9 hours', d.day + interval '9 hours' + (h %% 3600) * interval '1 second',
       false, 1 + h %% 3, 60 + h %% 1800,
       CASE WHEN d.day >= %(keys_from)s THEN
           ARRAY(SELECT DISTINCT (%(keys)s::int[])[1 + (h * k + k * k) %% %(nkeys)s]
                 FROM generate_series(1, 2 + h %% 5) k ORDER BY 1) END,
       NULL
FROM (SELECT id, (hashint8(id)::bigint & 2147483647) %% 61 AS rate FROM ingestion_enduser
      WHERE organization_id = %(org)s AND external_id LIKE %(account)s || '-u%%') u
CROSS JOIN (SELECT %(as_of)s::date - o AS day FROM generate_series(0, %(days)s - 1) o) d
CROSS JOIN LATERAL (
    SELECT hashint8(u.id * 1000 + (d.day - date '2000-01-01'))::bigint & 2147483647 AS h
) x
WHERE h %% 100 < 5 + u.rate
"""


# The engine's per-(account, user) state of D for the drilled accounts, from their rows.
_PAIR_STATE_SQL = """
INSERT INTO health_pair_state (organization_id, product_id, account_pk, user_pk, first_at,
    last_at, last_day, last_day_p, item_last, item_last_p, visits_lifetime, items_w, items_p,
    risk_w, risk_p)
SELECT %(org)s, %(product)s, account_pk, user_pk, min(first_at), max(last_at), max(day),
       max(day) FILTER (WHERE day <= %(as_of)s::date - 30), '{}', '{}', sum(visits)::int,
       0, 0, false, false
FROM health_user_day WHERE product_id = %(product)s AND account_pk = %(account_pk)s
GROUP BY account_pk, user_pk
"""

# Every other account: one user active on about a third of W's days (no users, no event
# keys), so that the daily table is as large as a real one relative to the drilled rows
# and the planner reads an account's rows by its key, as it would in production.
_BACKGROUND_DAYS_SQL = """
INSERT INTO health_user_day (organization_id, product_id, day, account_pk, user_pk, events,
    core_lo, core_hi, core_events, first_at, last_at, with_context_group, visits,
    session_seconds)
SELECT %(org)s, %(product)s, d.day, a.id, -a.id, 5, 1, 0, 1, d.day + interval '9 hours',
       d.day + interval '10 hours', false, 1, 600
FROM ingestion_account a
CROSS JOIN (SELECT %(as_of)s::date - o AS day FROM generate_series(0, 29) o) d
WHERE a.organization_id = %(org)s AND NOT a.external_id = ANY(%(drilled)s)
  AND (a.id + (d.day - date '2000-01-01')) %% 3 = 0
"""


def seed() -> Seeded:
    """The benchmark organization, product and user: seeded once, then reused."""
    from vitals.tenancy.rls import owner_session

    # Setup, not measured: as the owner, outside row-level security (docs/security.md).
    with owner_session():
        return _seed()


def _seed() -> Seeded:
    from django.db import connection, transaction

    from health.catalog import config_import
    from vitals.tenancy.models import Organization, Product
    from vitals.tenancy.services import membership_set, user_get_or_create

    organization = Organization.objects.filter(slug=ORG).first()
    if organization is None or organization.name != MARKER:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute("SET LOCAL work_mem = '256MB'")
            product = config_import(data=_config())
            _build(cursor, product, started)
            cursor.execute(
                "UPDATE tenancy_organization SET name = %s WHERE id = %s",
                [MARKER, product.organization_id],
            )
        _vacuum(analyze=True)
        _log("vacuumed and analyzed", started)
        organization = Organization.objects.get(slug=ORG)
    else:
        print(f"Reusing {ORG}: {MARKER}")
        # What autovacuum has done to a live table by then: a VACUUM beside a long
        # transaction (another session's) leaves pages not all-visible, and every
        # index-only scan then reads the table too. Quick once they are.
        _vacuum(analyze=False)
    user = user_get_or_create(email=EMAIL, password="bench-ui-password-1")
    membership_set(organization=organization, user=user, role="admin")
    product = Product.dangerously_unscoped.get(organization=organization, key=PRODUCT)
    return Seeded(organization, product, user)


TABLES = (
    "ingestion_account",
    "health_accounthealth",
    "health_account_state",
    "health_user_day",
    "health_pair_state",
    "ingestion_enduser",
    "ingestion_accountmembership",
)


def _vacuum(*, analyze: bool) -> None:
    """VACUUM (ANALYZE) the tables the seed writes, and say how much of each the
    visibility map covers (index-only scans need it)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"VACUUM {'ANALYZE ' if analyze else ''}{table}")
        cursor.execute(
            "SELECT relname, relallvisible::float / greatest(relpages, 1) FROM pg_class"
            " WHERE relname = ANY(%s) AND relpages > 0 ORDER BY relname",
            [list(TABLES)],
        )
        partial = [f"{name} {share:.0%}" for name, share in cursor.fetchall() if share < 0.99]
    if partial:
        print(f"  all-visible pages (a long transaction held VACUUM back): {', '.join(partial)}")


def _config() -> dict[str, Any]:
    from benchmarks.synthetic import bench_config

    config = bench_config()
    config["organization"] = {"name": "Bench UI (building)", "slug": ORG, "timezone": "UTC"}
    config["product"] = {"name": "Bench UI App", "key": PRODUCT}
    return config


def _log(message: str, started: float) -> None:
    print(f"  {time.perf_counter() - started:6.1f} s  {message}", flush=True)


def _build(cursor: Any, product: Any, started: float) -> None:
    from benchmarks.synthetic import PAGE_PATHS, TRACK_EVENTS
    from health.models import Feature, Module, PortfolioHealth, RollupState
    from vitals.tenancy.scope import tenant_scope

    org, prod = product.organization_id, product.pk
    params: dict[str, Any] = {"org": org, "product": prod, "as_of": AS_OF, "n": ACCOUNTS}
    for table in (
        "health_accounthealth",
        "health_account_state",
        "health_user_day",
        "health_pair_state",
        "ingestion_accountmembership",
        "ingestion_eventkey",
    ):
        cursor.execute(f"DELETE FROM {table} WHERE product_id = %s", [prod])
    cursor.execute("DELETE FROM ingestion_enduser WHERE organization_id = %s", [org])
    cursor.execute("DELETE FROM ingestion_account WHERE organization_id = %s", [org])
    cursor.execute(
        "INSERT INTO ingestion_eventkey (organization_id, product_id, kind, name)"
        " SELECT %s, %s, 'event', unnest(%s::text[])"
        " UNION ALL SELECT %s, %s, 'page', unnest(%s::text[])",
        [org, prod, TRACK_EVENTS, org, prod, PAGE_PATHS],
    )
    cursor.execute(_ACCOUNTS_SQL, params)
    _log(f"{cursor.rowcount:,} accounts", started)
    for shift in range(HISTORY_DAYS, -1, -1):
        day = AS_OF - timedelta(days=shift)
        cursor.execute(_HEALTH_SQL.format(accounts=""), {**params, "day": day, "shift": shift})
        _log(f"{cursor.rowcount:,} AccountHealth rows as of {day}", started)
    with tenant_scope(product.organization, product):
        features = list(Feature.objects.filter(product=product).values_list("key", flat=True))
        modules = list(Module.objects.filter(product=product).values_list("path", flat=True))
        RollupState.objects.update_or_create(
            organization_id=org,
            product=product,
            defaults={
                "state_as_of": AS_OF,
                "keys_from": AS_OF - timedelta(days=59),
                "usage_features": features,
                "usage_modules": modules,
            },
        )
    cursor.execute(
        _ACCOUNT_STATE_SQL, {**params, "features": len(features), "modules": len(modules)}
    )
    _log(f"{cursor.rowcount:,} account states", started)
    cursor.execute(
        "SELECT array_agg(id ORDER BY id) FROM ingestion_eventkey WHERE product_id = %s", [prod]
    )
    (keys,) = cursor.fetchone()
    for external_id, users in DRILLED.items():
        cursor.execute(
            "SELECT id FROM ingestion_account WHERE organization_id = %s AND external_id = %s",
            [org, external_id],
        )
        (account_pk,) = cursor.fetchone()
        drilled = {**params, "account": external_id, "account_pk": account_pk}
        cursor.execute(_USERS_SQL, {**drilled, "users": users})
        cursor.execute(
            _USER_DAY_SQL,
            {
                **drilled,
                "days": DAYS,
                "keys_from": AS_OF - timedelta(days=59),
                "keys": keys,
                "nkeys": len(keys),
            },
        )
        rows = cursor.rowcount
        cursor.execute(
            "UPDATE health_user_day SET key_events = ARRAY(SELECT 1 + (user_pk + k) %% 7"
            " FROM generate_series(1, cardinality(key_ids)) k)"
            " WHERE product_id = %s AND account_pk = %s AND key_ids IS NOT NULL",
            [prod, account_pk],
        )
        cursor.execute(_PAIR_STATE_SQL, drilled)
        for shift in range(TREND_DAYS - 1, HISTORY_DAYS, -1):
            day = AS_OF - timedelta(days=shift)
            cursor.execute(
                _HEALTH_SQL.format(accounts="AND id = %(account_pk)s"),
                {**drilled, "day": day, "shift": shift},
            )
        _log(f"{external_id}: {users:,} users, {rows:,} user-day rows", started)
    cursor.execute(_BACKGROUND_DAYS_SQL, {**params, "drilled": list(DRILLED)})
    _log(f"{cursor.rowcount:,} user-day rows of the other accounts", started)
    with tenant_scope(product.organization, product):
        PortfolioHealth.objects.update_or_create(
            organization_id=org,
            product=product,
            as_of=AS_OF,
            defaults={"summary": _summary(cursor, prod)},
        )


def _summary(cursor: Any, product_id: int) -> dict[str, Any]:
    cursor.execute(
        """
        SELECT count(*), count(*) FILTER (WHERE active_users > 0),
               count(*) FILTER (WHERE active_users_prev > 0),
               count(*) FILTER (WHERE health = 'At Risk'),
               count(*) FILTER (WHERE health_prev = 'At Risk'),
               count(*) FILTER (WHERE health = 'Neutral'),
               count(*) FILTER (WHERE health = 'Healthy'),
               avg(product_score), avg(core_feature_usage), avg(active_user_coverage),
               avg(stickiness)
        FROM health_accounthealth WHERE product_id = %s AND as_of = %s
        """,
        [product_id, AS_OF],
    )
    (total, active, active_prev, risk, risk_prev, neutral, healthy, score, cfu, cov, stk) = (
        cursor.fetchone()
    )
    third = active // 3
    levels = {"Low": third, "Moderate": third, "High": active - 2 * third}
    return {
        "as_of": AS_OF.isoformat(),
        "total_accounts": total,
        "total_users": total * 12,
        "active_accounts": active,
        "active_accounts_prev": active_prev,
        "accounts_at_risk": risk,
        "accounts_at_risk_prev": risk_prev,
        "users_at_risk": total // 3,
        "users_at_risk_prev": total // 4,
        "new_accounts": 4_300,
        "new_accounts_prev": 4_200,
        "new_leads": 430,
        "new_leads_prev": 500,
        "health": {
            "product_score": {
                "At Risk": risk,
                "Neutral": neutral,
                "Healthy": healthy,
                "mean": score,
            },
            "core_feature_usage": {**levels, "mean": cfu},
            "active_user_coverage": {**levels, "mean": cov},
            "stickiness": {**levels, "mean": stk},
        },
    }
