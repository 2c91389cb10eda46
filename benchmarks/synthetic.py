"""The synthetic organization the health benchmark runs on, built once with set-based SQL.

Organization "bench" (UTC), product "app": 10,000 accounts, 200,000 users, one `group`
membership per user (about 2% move to a second account later), 60 track event names and
40 page paths, and about 10 million activity events over the 240 days ending yesterday.
Activity is power-law across accounts (account sizes) and users (a capped Pareto rate of
sessions per active day), has a
weekday rhythm (most weekend sessions move to the
nearest weekday), and comes in sessions: bursts of
events under a minute apart. Every event carries the account of the membership in
effect, as ingestion attributes it. The catalog reuses the feature and core-item shape of
the conformance fixture, whose event names and page paths the generator emits.

The build is one transaction; the organization's name, written last, is the marker that
says which size and end day the data has, so `dataset_ensure` rebuilds only when needed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ORG_SLUG = "bench"
PRODUCT_KEY = "app"
DAYS = 240
ACCOUNTS = 10_000
USERS = 200_000
EVENTS = 10_000_000
MOVERS = 0.02  # share of users who join a second account later
# Events per session: 1 + floor(Exp(mean 8.5)), whose mean is about 9.0.
SESSION_TAIL_MEAN = 8.5
MEAN_EVENTS_PER_SESSION = 9.0
CONFORMANCE_CONFIG = Path("/work/shared/conformance/basic/config.json")

# The conformance catalog's event names and page paths come first so they get the most
# traffic (keys are drawn with a power law over their position); "Legacy Import" is never
# sent, so one feature always has zero usage.
_CATALOG_EVENTS = [
    "Report Created",
    "Dashboard Created",
    "Searched",
    "Widget Added",
    "Comment Added",
    "Invite Sent",
    "Sync Run",
    "Report Exported",
    "Integration Connected",
    "User Mentioned",
    "Summary Generated",
    "Widget Shared",
    "Export Scheduled",
    "API Token Created",
]
_OTHER_EVENTS = [
    f"{thing} {verb}"
    for thing in ("Project", "Task", "File", "Folder", "Note", "Label", "Filter", "View", "Tag")
    for verb in ("Created", "Updated", "Opened", "Archived", "Deleted")
][: 60 - len(_CATALOG_EVENTS) - 1] + ["Session Heartbeat"]
TRACK_EVENTS = [
    name for pair in zip(_CATALOG_EVENTS, _OTHER_EVENTS, strict=False) for name in pair
] + _OTHER_EVENTS[len(_CATALOG_EVENTS) :]
PAGE_PATHS = (
    ["/home", "/dashboards/overview", "/reports/weekly", "/settings/profile"]
    + [f"/dashboards/{n}" for n in range(1, 9)]
    + [f"/reports/{n}" for n in range(1, 7)]
    + [f"/reports/{n}/export" for n in range(1, 4)]
    + ["/settings/team", "/settings/billing", "/settings/billing/invoices", "/settings/api"]
    + [f"/projects/{n}" for n in range(1, 9)]
    + ["/search", "/inbox", "/help", "/onboarding", "/notifications", "/profile/edit"]
)[:40]


def django_setup() -> None:
    """The scripts run as plain files (`python benchmarks/bench_health.py`)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vitals.settings")
    import django

    django.setup()


@dataclass(frozen=True)
class Dataset:
    organization_id: int
    product_id: int
    first_day: date
    last_day: date  # the as-of day the data ends on
    events: int


def _marker(*, events: int, last_day: date) -> str:
    return f"Bench: {events} events, {ACCOUNTS} accounts, {USERS} users, to {last_day}"


def _log(message: str, started: float) -> None:
    print(f"  [{time.monotonic() - started:7.1f}s] {message}", flush=True)


def dataset_ensure(*, events: int = EVENTS, rebuild: bool = False) -> Dataset:
    """The bench organization with `events` events, built now unless already there."""
    from vitals.tenancy.rls import owner_session

    # Setup, not measured: as the owner, outside row-level security (docs/security.md).
    with owner_session():
        return _dataset_ensure(events=events, rebuild=rebuild)


def _dataset_ensure(*, events: int, rebuild: bool) -> Dataset:
    from vitals.tenancy.models import Organization, Product

    organization = Organization.objects.filter(slug=ORG_SLUG).first()
    if (
        organization is not None
        and not rebuild
        and organization.name.startswith(
            f"Bench: {events} events, {ACCOUNTS} accounts, {USERS} users, to "
        )
    ):
        last_day = date.fromisoformat(organization.name.rsplit(" ", 1)[1])
        product = Product.dangerously_unscoped.get(organization=organization, key=PRODUCT_KEY)
        return Dataset(
            organization.pk, product.pk, last_day - timedelta(days=DAYS - 1), last_day, events
        )
    last_day = datetime.now(UTC).date() - timedelta(days=1)
    return _build(events=events, last_day=last_day)


def bench_config() -> dict[str, Any]:
    """The conformance config's features and settings, for the bench organization."""
    config = json.loads(CONFORMANCE_CONFIG.read_text())
    config["organization"] = {"name": "Bench (building)", "slug": ORG_SLUG, "timezone": "UTC"}
    config["product"] = {"name": "App", "key": PRODUCT_KEY}
    config.pop("as_of", None)
    return config


def _build(*, events: int, last_day: date) -> Dataset:
    from django.db import connection, transaction

    from health.catalog import config_import

    started = time.monotonic()
    first_day = last_day - timedelta(days=DAYS - 1)
    sessions = round(events / MEAN_EVENTS_PER_SESSION)
    print(f"Building the bench dataset: ~{events:,} events, {first_day} .. {last_day}")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        product = config_import(data=bench_config())
        org, prod = product.organization_id, product.pk
        _wipe(cursor, org=org)
        _log("organization, product, catalog and settings", started)
        params = {
            "org": org,
            "product": prod,
            "first_day": first_day,
            "days": DAYS,
            "accounts": ACCOUNTS,
            "users": USERS,
            "movers": MOVERS,
            "sessions": sessions,
            "events_per_session": SESSION_TAIL_MEAN,
            "track": TRACK_EVENTS,
            "pages": PAGE_PATHS,
        }
        month = date(first_day.year, first_day.month, 1)
        months = []
        while month <= last_day + timedelta(days=1):
            months.append(month)
            month = (month + timedelta(days=32)).replace(day=1)
        for month in months:
            cursor.execute("SELECT vitals_ensure_event_partition(%s)", [month])
        cursor.execute("SELECT setseed(0.42)")
        for label, sql in _BUILD_STEPS:
            cursor.execute(sql, params)
            _log(f"{label} ({max(cursor.rowcount, 0):,} rows)", started)
        for month in months:
            next_month = (month + timedelta(days=32)).replace(day=1)
            cursor.execute(
                _EVENTS_SQL,
                {
                    **params,
                    "from": datetime(month.year, month.month, 1, tzinfo=UTC),
                    "to": datetime(next_month.year, next_month.month, 1, tzinfo=UTC),
                },
            )
            _log(f"events of {month:%Y-%m} ({cursor.rowcount:,} rows, with ledger)", started)
        cursor.execute("SELECT count(*) FROM ingestion_event WHERE product_id = %s", [prod])
        (total,) = cursor.fetchone()
        cursor.execute(
            "UPDATE tenancy_organization SET name = %s WHERE id = %s",
            [_marker(events=events, last_day=last_day), org],
        )
    _log(f"committed {total:,} events", started)
    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE ingestion_event, ingestion_seenmessage, ingestion_enduser,"
            " ingestion_account, ingestion_accountmembership, ingestion_eventkey"
        )
    _log("analyzed", started)
    return Dataset(org, prod, first_day, last_day, events)


def _wipe(cursor: Any, *, org: int) -> None:
    """A half-built or differently sized bench organization: drop its tenant rows."""
    cursor.execute(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
        " AND column_name = 'organization_id' AND table_name !~ '^ingestion_event_[0-9]+$'"
        " AND table_name NOT IN ('health_feature', 'health_module', 'health_healthsettings',"
        " 'tenancy_product', 'tenancy_membership', 'tenancy_writekey')"
    )
    for (table,) in cursor.fetchall():
        cursor.execute(f'DELETE FROM "{table}" WHERE organization_id = %s', [org])


# Temp tables b_* describe the population; the real tables get what ingestion would store.
_BUILD_STEPS: list[tuple[str, str]] = [
    (
        "event keys",
        """
        INSERT INTO ingestion_eventkey (organization_id, product_id, kind, name)
        SELECT %(org)s, %(product)s, 'event', name FROM unnest(%(track)s::text[]) name
        UNION ALL
        SELECT %(org)s, %(product)s, 'page', name FROM unnest(%(pages)s::text[]) name
        """,
    ),
    (
        "key ranks",
        """
        CREATE TEMP TABLE b_key ON COMMIT DROP AS
        SELECT k.id, k.kind, k.name, (ord - 1)::int AS rank
        FROM ingestion_eventkey k
        JOIN (SELECT 'event' AS kind, name, ord FROM unnest(%(track)s::text[])
                  WITH ORDINALITY AS t(name, ord)
              UNION ALL
              SELECT 'page', name, ord FROM unnest(%(pages)s::text[])
                  WITH ORDINALITY AS p(name, ord)) r USING (kind, name)
        WHERE k.product_id = %(product)s
        """,
    ),
    (
        "account population",
        # Half the accounts exist from day 0, the others arrive over the period; one in
        # eight churns (no activity after its churn day).
        """
        CREATE TEMP TABLE b_account ON COMMIT DROP AS
        SELECT i AS idx, j.join_day,
               CASE WHEN random() < 0.125
                    THEN least(%(days)s - 1, j.join_day + 30 + floor(random() * %(days)s)::int)
                    ELSE %(days)s - 1 END AS end_day
        FROM generate_series(0, %(accounts)s - 1) i
        CROSS JOIN LATERAL (SELECT CASE WHEN random() < 0.5 THEN 0
                                        ELSE floor(random() * (%(days)s - 40))::int END
                                   + 0 * i AS join_day) j
        """,
    ),
    (
        "accounts",
        """
        INSERT INTO ingestion_account (organization_id, external_id, name, traits, first_seen_at)
        SELECT %(org)s, 'acct-' || lpad(a.idx::text, 5, '0'), t.name,
               jsonb_build_object(
                   'name', t.name,
                   'plan', (ARRAY['free', 'starter', 'pro', 'enterprise'])[1 + a.idx %% 4],
                   'industry', (ARRAY['Software', 'Retail', 'Finance', 'Health', 'Education',
                                      'Media', 'Logistics'])[1 + (a.idx * 7 + 3) %% 7],
                   'country', (ARRAY['US', 'GB', 'DE', 'FR', 'NL', 'ES', 'BR', 'IN', 'JP',
                                     'AU'])[1 + (a.idx * 13 + 5) %% 10],
                   'status', CASE WHEN a.idx %% 9 = 0 THEN 'lead' ELSE 'customer' END,
                   'createdAt', to_char(%(first_day)s::date + a.join_day, 'YYYY-MM-DD')),
               (%(first_day)s::date + a.join_day)::timestamp AT TIME ZONE 'UTC'
        FROM b_account a
        CROSS JOIN LATERAL (SELECT (ARRAY['Acme', 'Globex', 'Initech', 'Umbrella', 'Stark',
                                          'Wayne', 'Hooli', 'Vandelay', 'Tyrell', 'Cyberdyne'])
                                       [1 + a.idx %% 10] || ' ' || a.idx AS name) t
        """,
    ),
    (
        "account ids",
        """
        ALTER TABLE b_account ADD COLUMN id bigint;
        UPDATE b_account b SET id = a.id FROM ingestion_account a
        WHERE a.organization_id = %(org)s AND a.external_id = 'acct-' || lpad(b.idx::text, 5, '0')
        """,
    ),
    (
        "user population",
        # Account sizes follow a power law (account 0 has ~1% of users, the smallest a
        # handful); activity ranks are a random permutation, so heavy users are spread.
        # Users join with their account or later, never after its churn day.
        """
        CREATE TEMP TABLE b_user ON COMMIT DROP AS
        SELECT u.idx, u.account_idx,
               least(a.end_day, a.join_day + CASE WHEN random() < 0.6 THEN 0
                   ELSE floor(random() * (%(days)s - a.join_day))::int END) AS join_day,
               row_number() OVER (ORDER BY random()) - 1 AS act_rank,
               random() < %(movers)s AS moves
        FROM (SELECT i AS idx, floor(%(accounts)s * power(random(), 2))::int AS account_idx
              FROM generate_series(0, %(users)s - 1) i) u
        JOIN b_account a ON a.idx = u.account_idx
        """,
    ),
    (
        "users",
        """
        INSERT INTO ingestion_enduser (organization_id, external_id, traits, first_seen_at)
        SELECT %(org)s, 'user-' || lpad(idx::text, 6, '0'),
               jsonb_build_object('email', 'user' || idx || '@example.com'),
               (%(first_day)s::date + join_day)::timestamp AT TIME ZONE 'UTC'
        FROM b_user
        """,
    ),
    (
        "user ids and moves",
        # Movers join a second account on a day after their first join; their activity
        # from then on is attributed to it.
        """
        ALTER TABLE b_user ADD COLUMN id bigint, ADD COLUMN end_day int,
            ADD COLUMN join_at timestamptz, ADD COLUMN move_account_idx int,
            ADD COLUMN move_at timestamptz;
        UPDATE b_user b SET id = u.id,
            end_day = a.end_day,
            join_at = (%(first_day)s::date + b.join_day)::timestamp AT TIME ZONE 'UTC'
                      + random() * interval '6 hours',
            move_account_idx = CASE WHEN b.moves AND b.join_day < %(days)s - 2
                THEN floor(%(accounts)s * random())::int END
        FROM ingestion_enduser u, b_account a
        WHERE u.organization_id = %(org)s AND u.external_id = 'user-' || lpad(b.idx::text, 6, '0')
          AND a.idx = b.account_idx;
        UPDATE b_user SET move_at = (%(first_day)s::date + join_day + 1
            + floor(random() * (%(days)s - 2 - join_day))::int)::timestamp AT TIME ZONE 'UTC'
            + interval '6 hours' + random() * interval '2 hours'
        WHERE move_account_idx IS NOT NULL;
        -- A user is first seen with the group call that makes them a member.
        UPDATE ingestion_enduser u SET first_seen_at = b.join_at FROM b_user b WHERE u.id = b.id;
        ANALYZE b_user
        """,
    ),
    (
        "group calls",
        # One group message per membership; the membership row points at its event id.
        """
        CREATE TEMP TABLE b_group ON COMMIT DROP AS
        SELECT nextval(pg_get_serial_sequence('ingestion_event', 'id')) AS id, * FROM (
            SELECT u.id AS user_pk, u.idx AS user_idx, a.id AS account_pk,
                   a.idx AS account_idx, u.join_at AS event_time
            FROM b_user u JOIN b_account a ON a.idx = u.account_idx
            UNION ALL
            SELECT u.id, u.idx, a.id, a.idx, u.move_at
            FROM b_user u JOIN b_account a ON a.idx = u.move_account_idx
            ORDER BY event_time
        ) g
        """,
    ),
    (
        "memberships",
        """
        INSERT INTO ingestion_accountmembership
            (organization_id, product_id, user_id, account_id, event_time, event_id)
        SELECT %(org)s, %(product)s, user_pk, account_pk, event_time, id FROM b_group
        """,
    ),
    (
        "group events and ledger",
        """
        WITH stored AS (
            INSERT INTO ingestion_event (id, organization_id, product_id, event_time,
                received_at, type, message_id, user_pk, account_pk, raw)
            SELECT g.id, %(org)s, %(product)s, g.event_time, g.event_time, 5, m.mid,
                   g.user_pk, g.account_pk,
                   jsonb_build_object('type', 'group',
                       'userId', 'user-' || lpad(g.user_idx::text, 6, '0'),
                       'groupId', 'acct-' || lpad(g.account_idx::text, 5, '0'),
                       'messageId', m.mid,
                       'timestamp', to_char(g.event_time AT TIME ZONE 'UTC',
                                            'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
            FROM b_group g CROSS JOIN LATERAL (SELECT 'bm-' || lpad(g.id::text, 12, '0') AS mid) m
            RETURNING message_id
        )
        INSERT INTO ingestion_seenmessage (organization_id, product_id, message_id)
        SELECT %(org)s, %(product)s, message_id FROM stored
        """,
    ),
    (
        "session counts",
        # Sessions per user: a heavy-tailed rate (Pareto, capped at 300x the floor) times
        # the days the user is active, scaled so the total is the target.
        """
        ALTER TABLE b_user ADD COLUMN rate float8, ADD COLUMN sessions int;
        UPDATE b_user SET rate = least(300, power(1 - random(), -0.7))
                                 * (end_day - join_day + 1);
        UPDATE b_user SET sessions = floor(rate * %(sessions)s
            / (SELECT sum(rate) FROM b_user) + random())::int
        """,
    ),
    (
        "sessions",
        # When: a day between joining and the account's churn, most weekend days moved to
        # Friday (Saturday) or Monday (Sunday), starting 07:00-18:00 UTC.
        # How long: a geometric number of events (mean ~9.0), under a minute apart.
        """
        CREATE TEMP TABLE b_session ON COMMIT DROP AS
        SELECT s.user_pk, s.user_idx, s.start_at, s.events, s.account_pk, s.account_idx,
               s.move_account_pk, s.move_account_idx, s.move_at
        FROM (
            SELECT u.id AS user_pk, u.idx AS user_idx, a.id AS account_pk,
                   a.idx AS account_idx, m.id AS move_account_pk,
                   m.idx AS move_account_idx, u.move_at,
                   (%(first_day)s::date + CASE
                        WHEN w.shifted BETWEEN u.join_day AND u.end_day AND random() < 0.7
                        THEN w.shifted ELSE d.day END)::timestamp AT TIME ZONE 'UTC'
                   + interval '7 hours' + random() * interval '11 hours' AS start_at,
                   1 + floor(-ln(1 - random()) * %(events_per_session)s)::int AS events
            FROM b_user u
            CROSS JOIN LATERAL generate_series(1, u.sessions) n
            JOIN b_account a ON a.idx = u.account_idx
            LEFT JOIN b_account m ON m.idx = u.move_account_idx
            CROSS JOIN LATERAL (SELECT u.join_day + 0 * n
                + floor(random() * (u.end_day - u.join_day + 1))::int AS day) d
            CROSS JOIN LATERAL (SELECT d.day + CASE extract(isodow FROM %(first_day)s::date + d.day)
                WHEN 6 THEN -1 WHEN 7 THEN 1 ELSE 0 END AS shifted) w
        ) s
        ORDER BY s.start_at;
        ANALYZE b_session;
        ANALYZE b_key
        """,
    ),
]

# One month of activity events (sessions are stored in time order, so events arrive in
# roughly time order, as they would), with their ledger rows.
_EVENTS_SQL = """
WITH stored AS (
    INSERT INTO ingestion_event (id, organization_id, product_id, event_time, received_at,
        type, message_id, user_pk, account_pk, event_key_id, raw)
    SELECT e.id, %(org)s, %(product)s, e.event_time,
           e.event_time + random() * interval '3 seconds', e.type, e.mid, e.user_pk,
           CASE WHEN e.move_at IS NOT NULL AND e.event_time >= e.move_at
                THEN e.move_account_pk ELSE e.account_pk END,
           k.id,
           CASE WHEN e.type = 1 THEN jsonb_build_object('type', 'track', 'event', k.name,
                    'userId', e.user_ext, 'messageId', e.mid, 'timestamp', e.ts)
                ELSE jsonb_build_object('type', 'page', 'userId', e.user_ext,
                    'properties', jsonb_build_object('path', k.name),
                    'messageId', e.mid, 'timestamp', e.ts) END
    FROM (
        SELECT ev.*, 'bm-' || lpad(ev.id::text, 12, '0') AS mid,
               'user-' || lpad(ev.user_idx::text, 6, '0') AS user_ext,
               to_char(ev.event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ts
        FROM (
            SELECT nextval(pg_get_serial_sequence('ingestion_event', 'id')) AS id,
                   s.user_pk, s.user_idx, s.account_pk, s.move_account_pk, s.move_at,
                   s.start_at + n * interval '40 seconds'
                       + random() * interval '35 seconds' AS event_time,
                   CASE WHEN random() < 0.65 THEN 1 ELSE 2 END AS type,
                   random() AS pick
            FROM b_session s
            CROSS JOIN LATERAL generate_series(0, s.events - 1) n
            WHERE s.start_at >= %(from)s AND s.start_at < %(to)s
        ) ev
    ) e
    JOIN b_key k ON k.kind = CASE WHEN e.type = 1 THEN 'event' ELSE 'page' END
        AND k.rank = floor(CASE WHEN e.type = 1 THEN 60 ELSE 40 END * power(e.pick, 2))::int
    RETURNING message_id
)
INSERT INTO ingestion_seenmessage (organization_id, product_id, message_id)
SELECT %(org)s, %(product)s, message_id FROM stored
"""


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    django_setup()
    dataset = dataset_ensure(events=args.events, rebuild=args.rebuild)
    print(dataset)


if __name__ == "__main__":
    main()
