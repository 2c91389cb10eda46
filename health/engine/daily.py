"""Layer 1: from raw events to sessions and one row per (day, account, user).

Every pass over events first folds them into 15-minute buckets per (user, account):
count, first and last time, core-item masks. A bucket never holds a session break (its
events are less than 30 minutes apart), and every organization's midnight falls on a
15-minute boundary (time-zone offsets are multiples of 15 minutes, see
tests/health/test_bucket_alignment.py), so sessions and days come out of the buckets
exactly while sorting ~7x fewer rows than events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection

from health.engine.maps import CoreMap
from health.engine.windows import Windows, day_start
from vitals.tenancy.models import Product

SESSION_GAP = "30 minutes"
BUCKET = "date_bin('15 minutes', e.event_time, '2000-01-01 00:00:00+00'::timestamptz)"

_BUCKETS_SQL = f"""
CREATE TEMP TABLE {{table}} ON COMMIT DROP AS
SELECT e.user_pk, e.account_pk, {BUCKET} AS bucket,
       count(*)::int AS events,
       min(e.event_time) AS first_at, max(e.event_time) AS last_at, min(e.id) AS first_id,
       coalesce(bit_or((%(key_lo)s::int8[])[e.event_key_id]), 0) AS core_lo,
       coalesce(bit_or((%(key_hi)s::int8[])[e.event_key_id]), 0) AS core_hi,
       count(*) FILTER (WHERE (%(key_lo)s::int8[])[e.event_key_id] <> 0
                           OR (%(key_hi)s::int8[])[e.event_key_id] <> 0)::int AS core_events,
       bool_or(e.context_account_pk IS NOT NULL) AS with_context_group
FROM ingestion_event e {{join}}
WHERE e.product_id = %(product)s AND e.type IN (1, 2, 3) AND e.user_pk IS NOT NULL
  AND e.event_time < %(cutoff)s
  {{where}}
GROUP BY 1, 2, 3
"""

# Sessions over a user's buckets in time order (all accounts together, SPEC section 5): a
# bucket starts a session when it begins 30 minutes or more after every earlier bucket
# ended. The session's account is its first event's; when two buckets (accounts) of the
# user begin at the same instant, the event ids at that instant decide.
_SESSIONS_SELECT = f"""
WITH ordered AS (
    SELECT user_pk, account_pk, first_at, last_at, events, first_id,
           first_at - max(last_at) OVER preceding AS gap,
           first_at = lead(first_at) OVER timeline AS tied
    FROM {{table}}
    WINDOW timeline AS (PARTITION BY user_pk ORDER BY first_at, first_id),
           preceding AS (timeline ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
numbered AS (
    SELECT user_pk, first_at, last_at, events,
           gap IS NULL OR gap >= interval '{SESSION_GAP}' AS starts,
           CASE WHEN tied AND (gap IS NULL OR gap >= interval '{SESSION_GAP}') THEN (
               SELECT e.account_pk FROM ingestion_event e
               WHERE e.user_pk = o.user_pk AND e.event_time = o.first_at
                 AND e.product_id = %(product)s AND e.type IN (1, 2, 3)
               ORDER BY e.id LIMIT 1)
           ELSE account_pk END AS head_account,
           count(*) FILTER (WHERE gap IS NULL OR gap >= interval '{SESSION_GAP}')
               OVER (PARTITION BY user_pk ORDER BY first_at, first_id
                     ROWS UNBOUNDED PRECEDING) AS session_no
    FROM ordered o
),
sessions AS (
    SELECT %(org)s::bigint AS organization_id, %(product)s::bigint AS product_id, user_pk,
           min(head_account) FILTER (WHERE starts) AS account_pk,
           (min(first_at) AT TIME ZONE %(tz)s)::date AS day,
           min(first_at) AS started_at, max(last_at) AS ended_at, sum(events)::int AS events
    FROM numbered
    GROUP BY user_pk, session_no
)
"""
_SESSION_COLUMNS = (
    "organization_id, product_id, user_pk, account_pk, day, started_at, ended_at, events"
)
# Sessions over a user's buckets in time order (all accounts together, SPEC section 5): a
# bucket starts a session when it begins 30 minutes or more after every earlier bucket
# ended. The session's account is its first event's; when two buckets (accounts) of the
# user begin at the same instant, the event ids at that instant decide.
_SESSIONS_SQL = (
    _SESSIONS_SELECT
    + f"INSERT INTO health_session ({_SESSION_COLUMNS}) SELECT {_SESSION_COLUMNS} FROM sessions"
    # in time order, as the (day) and (ended_at) indexes are
    + " ORDER BY day, ended_at"
)
# The same, answering the days of the sessions written.
_SESSIONS_DAYS_SQL = (
    _SESSIONS_SELECT.rstrip()
    + f""",
inserted AS (
    INSERT INTO health_session ({_SESSION_COLUMNS})
    SELECT {_SESSION_COLUMNS} FROM sessions RETURNING day
)
SELECT DISTINCT day FROM inserted
"""
)

# Rows per (day, account, user) from buckets, with their sessions, and the events per event
# key of the days from %(keys_from)s (W and later: what drill-down features need).
_USER_DAY_SQL = """
INSERT INTO health_user_day (organization_id, product_id, day, account_pk, user_pk, events,
                             core_lo, core_hi, core_events, first_at, last_at,
                             with_context_group, visits, session_seconds, key_ids, key_events)
WITH activity AS (
    SELECT (first_at AT TIME ZONE %(tz)s)::date AS day, account_pk, user_pk,
           sum(events)::int AS events, bit_or(core_lo) AS core_lo, bit_or(core_hi) AS core_hi,
           sum(core_events)::int AS core_events, min(first_at) AS first_at,
           max(last_at) AS last_at, bool_or(with_context_group) AS with_context_group
    FROM {table}
    WHERE account_pk IS NOT NULL {bucket_days}
    GROUP BY 1, 2, 3
),
visits AS (
    SELECT day, account_pk, user_pk, count(*)::int AS visits,
           sum(date_part('epoch', ended_at - started_at)) AS seconds
    FROM health_session
    WHERE product_id = %(product)s AND account_pk IS NOT NULL {session_days}
    GROUP BY 1, 2, 3
),
key_arrays AS (
    SELECT day, account_pk, user_pk,
           array_agg(event_key_id ORDER BY event_key_id) AS key_ids,
           array_agg(events ORDER BY event_key_id) AS key_events
    FROM (
        SELECT (e.event_time AT TIME ZONE %(tz)s)::date AS day, e.account_pk, e.user_pk,
               e.event_key_id, count(*)::int AS events
        FROM ingestion_event e
        WHERE e.product_id = %(product)s AND e.type IN (1, 2, 3) AND e.user_pk IS NOT NULL
          AND e.account_pk IS NOT NULL AND e.event_key_id IS NOT NULL
          AND e.event_time >= %(keys_from)s AND e.event_time < %(keys_to)s {key_days}
        GROUP BY 1, 2, 3, 4
    ) per_key
    GROUP BY 1, 2, 3
)
SELECT %(org)s, %(product)s, a.day, a.account_pk, a.user_pk, a.events, a.core_lo, a.core_hi,
       a.core_events, a.first_at, a.last_at, a.with_context_group,
       coalesce(v.visits, 0), coalesce(v.seconds, 0), k.key_ids, k.key_events
FROM activity a
LEFT JOIN visits v USING (day, account_pk, user_pk)
LEFT JOIN key_arrays k USING (day, account_pk, user_pk)
-- in the primary key's order: index pages fill one after another instead of at random
ORDER BY a.account_pk, a.user_pk, a.day
"""


@dataclass
class DailyChanges:
    """What layer 1 rewrote for the days up to D: the days whose rows may differ (their
    events or only their sessions changed), with their previous rows kept in the temp
    table l1_old_user_day."""

    days: list[date]


def _params(product: Product, windows: Windows, core: CoreMap) -> dict[str, Any]:
    return {
        "org": product.organization_id,
        "product": product.pk,
        "tz": product.organization.timezone,
        "cutoff": windows.cutoff,
        **core.arrays(),
    }


def _ensure_bucket_statistics(cursor: Any) -> None:
    """The full pass aggregates in parallel only when the planner knows the buckets are
    ~7x fewer than the events; the statistics object (ingestion migration 0006) lives on
    the partitioned parent, which autovacuum never analyzes. Both the check and ANALYZE
    need the owner: SECURITY DEFINER functions (tenancy migration 0002)."""
    cursor.execute("SELECT vitals_event_statistics_ready()")
    if not cursor.fetchone()[0]:
        cursor.execute("SELECT vitals_analyze(ARRAY['ingestion_event'])")


def rebuild_all(
    *, product: Product, windows: Windows, core: CoreMap, keep_sessions: bool = False
) -> None:
    """Sessions and daily rows from every event before the end of D (compute --full).

    `keep_sessions`: the stored sessions are those of these events (the catalog or the
    core items changed, nothing else): only the daily rows, whose core-item masks depend
    on the catalog, are rebuilt; sessions know nothing of features.
    """
    params = _params(product, windows, core)
    with connection.cursor() as cursor:
        _ensure_bucket_statistics(cursor)
        if not keep_sessions:
            cursor.execute("DELETE FROM health_session WHERE product_id = %(product)s", params)
        cursor.execute("DELETE FROM health_user_day WHERE product_id = %(product)s", params)
        cursor.execute(_BUCKETS_SQL.format(table="l1_bucket", join="", where=""), params)
        if not keep_sessions:
            cursor.execute(_SESSIONS_SQL.format(table="l1_bucket"), params)
        cursor.execute(
            _USER_DAY_SQL.format(table="l1_bucket", bucket_days="", session_days="", key_days=""),
            {
                **params,
                "keys_from": day_start(windows.w_start, product.organization.timezone),
                "keys_to": windows.cutoff,
            },
        )
        cursor.execute("DROP TABLE l1_bucket")
    _mark_days_after(product=product, windows=windows)


def rebuild_days(
    *,
    product: Product,
    windows: Windows,
    core: CoreMap,
    touched: list[date],
    sessions_cutoff: datetime | None,
) -> DailyChanges:
    """Sessions from the previous run's cutoff (and around touched days), and the daily
    rows of the touched days, keeping the replaced rows for the window states."""
    params = _params(product, windows, core)
    session_days = _sessions_rebuild(
        product=product,
        windows=windows,
        params=params,
        touched=touched,
        previous_cutoff=sessions_cutoff,
    )
    days = sorted({*touched, *(day for day in session_days if day <= windows.as_of)})
    params["days"] = days
    params["touched"] = touched
    with connection.cursor() as cursor:
        cursor.execute(
            """
            DROP TABLE IF EXISTS l1_old_user_day;
            CREATE TEMP TABLE l1_old_user_day ON COMMIT DROP AS
            SELECT * FROM health_user_day WHERE product_id = %(product)s AND day = ANY(%(days)s)
            """,
            params,
        )
        if touched:
            cursor.execute(
                "DELETE FROM health_user_day WHERE product_id = %(product)s"
                " AND day = ANY(%(touched)s)",
                params,
            )
            tz = product.organization.timezone
            params["from"] = day_start(min(touched), tz)
            params["to"] = day_start(max(touched) + timedelta(days=1), tz)
            # The sessions' buckets hold every event of the touched days: everyone's from
            # the previous cutoff, and those of users with events on an older touched day
            # from that day's start.
            cursor.execute(
                _USER_DAY_SQL.format(
                    table="l1_session_bucket",
                    bucket_days="AND (first_at AT TIME ZONE %(tz)s)::date = ANY(%(touched)s)",
                    session_days="AND day = ANY(%(touched)s)",
                    key_days="AND (e.event_time AT TIME ZONE %(tz)s)::date = ANY(%(touched)s)",
                ),
                {**params, "keys_from": params["from"], "keys_to": params["to"]},
            )
        cursor.execute("DROP TABLE l1_session_bucket")
        # Days whose events did not change but whose sessions did (a session that a late
        # event extended across midnight): only their visits move.
        params["visit_days"] = [day for day in days if day not in set(touched)]
        if params["visit_days"]:
            cursor.execute(
                """
                UPDATE health_user_day d
                SET visits = coalesce(v.visits, 0), session_seconds = coalesce(v.seconds, 0)
                FROM health_user_day target
                LEFT JOIN (
                    SELECT day, account_pk, user_pk, count(*)::int AS visits,
                           sum(date_part('epoch', ended_at - started_at)) AS seconds
                    FROM health_session
                    WHERE product_id = %(product)s AND account_pk IS NOT NULL
                      AND day = ANY(%(visit_days)s)
                    GROUP BY 1, 2, 3
                ) v USING (day, account_pk, user_pk)
                WHERE target.product_id = %(product)s AND target.day = ANY(%(visit_days)s)
                  AND d.product_id = target.product_id AND d.day = target.day
                  AND d.account_pk = target.account_pk AND d.user_pk = target.user_pk
                  AND (d.visits, d.session_seconds)
                      IS DISTINCT FROM (coalesce(v.visits, 0), coalesce(v.seconds, 0))
                """,
                params,
            )
    return DailyChanges(days=days)


def _sessions_rebuild(
    *,
    product: Product,
    windows: Windows,
    params: dict[str, Any],
    touched: list[date],
    previous_cutoff: datetime | None,
) -> set[date]:
    """Rebuild the sessions that events after the previous cutoff, or on touched days, can
    change; returns the days of every session deleted or written, and leaves the events'
    buckets in l1_session_bucket.

    A session ending within 30 minutes before a new event may grow, so it is rebuilt from
    its own start: every user's rebuild begins at a true session start. Users with events
    on an older touched day are rebuilt from that day; everyone else from the previous
    cutoff. A cutoff earlier than the previous one (a run for an older day) rebuilds all.
    """
    if previous_cutoff is None or windows.cutoff < previous_cutoff:
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM health_session WHERE product_id = %(product)s RETURNING day", params
            )
            days = {row[0] for row in cursor.fetchall()}
            cursor.execute(
                _BUCKETS_SQL.format(table="l1_session_bucket", join="", where=""), params
            )
            cursor.execute(_SESSIONS_DAYS_SQL.format(table="l1_session_bucket"), params)
            days |= {row[0] for row in cursor.fetchall()}
        _mark_days_after(product=product, windows=windows)
        return days
    tz = product.organization.timezone
    older = [day for day in touched if day_start(day + timedelta(days=1), tz) <= previous_cutoff]
    params = {
        **params,
        "since": previous_cutoff,
        "older": older,
        "older_from": day_start(min(older), tz) if older else previous_cutoff,
        "gap": timedelta(minutes=30),
    }
    with connection.cursor() as cursor:
        # Per user, where the rebuild starts: the previous cutoff, or the start of the
        # earliest older touched day the user has events on.
        cursor.execute(
            """
            DROP TABLE IF EXISTS l1_restart;
            CREATE TEMP TABLE l1_restart ON COMMIT DROP AS
            SELECT e.user_pk,
                   min((e.event_time AT TIME ZONE %(tz)s)::date::timestamp AT TIME ZONE %(tz)s)
                       AS since
            FROM ingestion_event e
            WHERE e.product_id = %(product)s AND e.type IN (1, 2, 3) AND e.user_pk IS NOT NULL
              AND e.event_time >= %(older_from)s AND e.event_time < %(since)s
              AND (e.event_time AT TIME ZONE %(tz)s)::date = ANY(%(older)s)
            GROUP BY e.user_pk
            """,
            params,
        )
        # Sessions that may grow or merge: everyone's ending near the previous cutoff, and
        # those of users with older touched days ending near that day's start.
        cursor.execute(
            """
            CREATE TEMP TABLE l1_gone (user_pk bigint, started_at timestamptz, day date)
                ON COMMIT DROP;
            WITH gone AS (
                DELETE FROM health_session s
                WHERE s.product_id = %(product)s AND s.ended_at >= %(since)s - %(gap)s
                RETURNING s.user_pk, s.started_at, s.day
            )
            INSERT INTO l1_gone SELECT * FROM gone;
            WITH gone AS (
                DELETE FROM health_session s USING l1_restart r
                WHERE s.product_id = %(product)s AND s.user_pk = r.user_pk
                  AND s.ended_at >= %(older_from)s - %(gap)s
                  AND s.ended_at >= r.since - %(gap)s
                RETURNING s.user_pk, s.started_at, s.day
            )
            INSERT INTO l1_gone SELECT * FROM gone;
            """,
            params,
        )
        cursor.execute("SELECT DISTINCT day FROM l1_gone")
        days = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            """
            CREATE TEMP TABLE l1_since ON COMMIT DROP AS
            SELECT user_pk, least(min(since), %(since)s) AS since FROM (
                SELECT user_pk, started_at AS since FROM l1_gone
                UNION ALL
                SELECT user_pk, since FROM l1_restart
            ) restarts
            GROUP BY user_pk
            """,
            params,
        )
        cursor.execute("ANALYZE l1_since")
        cursor.execute("SELECT min(since) FROM l1_since")
        earliest = cursor.fetchone()[0]
        params["earliest"] = min(earliest, previous_cutoff) if earliest else previous_cutoff
        where = """
          AND e.event_time >= %(earliest)s
          AND e.event_time >= coalesce(r.since, %(since)s)
        """
        cursor.execute(
            _BUCKETS_SQL.format(
                table="l1_session_bucket",
                join="LEFT JOIN l1_since r ON r.user_pk = e.user_pk",
                where=where,
            ),
            params,
        )
        cursor.execute(_SESSIONS_DAYS_SQL.format(table="l1_session_bucket"), params)
        days |= {row[0] for row in cursor.fetchall()}
        cursor.execute("DROP TABLE l1_since, l1_gone, l1_restart")
    return days


def _mark_days_after(*, product: Product, windows: Windows) -> None:
    """Rows of days after D were dropped or lost their sessions: mark the days that have
    events as touched, so the run for a later day rebuilds them."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO ingestion_touchedday (organization_id, product_id, day)
            SELECT DISTINCT %(org)s, %(product)s, (event_time AT TIME ZONE %(tz)s)::date
            FROM ingestion_event
            WHERE product_id = %(product)s AND type IN (1, 2, 3) AND user_pk IS NOT NULL
              AND event_time >= %(cutoff)s
            ON CONFLICT (product_id, day) DO NOTHING
            """,
            {
                "org": product.organization_id,
                "product": product.pk,
                "tz": product.organization.timezone,
                "cutoff": windows.cutoff,
            },
        )
