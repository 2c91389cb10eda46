"""The health engine: SPEC sections 4-8 as set-based SQL over the stored events.

Three layers, each one or a few statements over the whole product:
1. daily activity per (day, account, user, event key) and sessions, from raw events;
2. per-account window KPIs for W and P and the drill-down lists, from those rollups;
3. the portfolio summary and health distribution, from the account rows.
Python only orchestrates: it computes the window bounds and runs the statements.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection

from health.catalog import health_settings_for
from health.models import HealthSettings
from vitals.tenancy.models import Product

SESSION_GAP = "30 minutes"


@dataclass(frozen=True)
class Windows:
    as_of: date
    w_start: date
    w_end: date
    p_start: date
    p_end: date
    h_start: date
    hp_start: date
    cutoff: datetime  # end of the as-of day in the organization's time zone, as UTC

    @classmethod
    def for_day(cls, as_of: date, timezone_name: str) -> Windows:
        tz = ZoneInfo(timezone_name)
        next_midnight = datetime.combine(as_of + timedelta(days=1), datetime.min.time(), tz)
        return cls(
            as_of=as_of,
            w_start=as_of - timedelta(days=29),
            w_end=as_of,
            p_start=as_of - timedelta(days=59),
            p_end=as_of - timedelta(days=30),
            h_start=as_of - timedelta(days=179),
            hp_start=as_of - timedelta(days=209),
            cutoff=next_midnight,
        )

    def params(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "w_start": self.w_start,
            "w_end": self.w_end,
            "p_start": self.p_start,
            "p_end": self.p_end,
            "h_start": self.h_start,
            "hp_start": self.hp_start,
            "cutoff": self.cutoff,
        }


# --- layer 1: rollups from raw events -------------------------------------------------


def daily_activity_rebuild(*, product: Product, days: list[date] | None) -> int:
    """Rebuild daily activity for `days` (all days when None) from the events table."""
    tz = product.organization.timezone
    params: dict[str, Any] = {"org": product.organization_id, "product": product.pk, "tz": tz}
    day_filter = ""
    if days is not None:
        if not days:
            return 0
        params["days"] = days
        day_filter = "AND day = ANY(%(days)s)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM health_daily_activity WHERE product_id = %(product)s {day_filter}",
            params,
        )
        event_filter = ""
        if days is not None:
            # Bound the scan by time so partitions outside the touched days are skipped.
            event_filter = """
              AND e.event_time >= (%(first_day)s::timestamp AT TIME ZONE %(tz)s)
              AND e.event_time < ((%(last_day)s::date + 1)::timestamp AT TIME ZONE %(tz)s)
              AND (e.event_time AT TIME ZONE %(tz)s)::date = ANY(%(days)s)
            """
            params["first_day"], params["last_day"] = min(days), max(days)
        cursor.execute(
            f"""
            INSERT INTO health_daily_activity (
                organization_id, product_id, day, account_pk, user_pk, event_key_id,
                events, first_at, last_at, with_context_group)
            SELECT %(org)s, %(product)s, (e.event_time AT TIME ZONE %(tz)s)::date,
                   e.account_pk, e.user_pk, e.event_key_id, count(*),
                   min(e.event_time), max(e.event_time),
                   bool_or(e.context_account_pk IS NOT NULL)
            FROM ingestion_event e
            WHERE e.product_id = %(product)s AND e.type IN (1, 2, 3)
              AND e.user_pk IS NOT NULL AND e.account_pk IS NOT NULL
              {event_filter}
            GROUP BY 3, 4, 5, 6
            """,
            params,
        )
        return cursor.rowcount


def sessions_rebuild(*, product: Product, windows: Windows, touched_days: list[date] | None) -> int:
    """Sessions of the product's users from events before the end of the as-of day.

    Incremental unless `touched_days` is None: only sessions that could change are
    rebuilt, from T0 = the earliest touched day's start (or the previous cutoff, whichever
    is earlier). A session ending within 30 minutes of T0 may grow, so it is rebuilt from
    its own start; every user's rebuild therefore begins at a true session start.
    """
    from health.models import RollupState

    tz = ZoneInfo(product.organization.timezone)
    state, _ = RollupState.objects.get_or_create(
        organization_id=product.organization_id, product=product
    )
    previous = state.sessions_cutoff
    params: dict[str, Any] = {
        "org": product.organization_id,
        "product": product.pk,
        "tz": product.organization.timezone,
        "cutoff": windows.cutoff,
    }
    full = touched_days is None or previous is None or windows.cutoff < previous
    if not full:
        starts = [previous]
        if touched_days:
            starts.append(datetime.combine(min(touched_days), datetime.min.time(), tz))
        params["since"] = min(starts)
        if not touched_days and previous == windows.cutoff:
            return 0
    with connection.cursor() as cursor:
        if full:
            cursor.execute("DELETE FROM health_session WHERE product_id = %(product)s", params)
            cursor.execute(
                "CREATE TEMP TABLE session_restart ON COMMIT DROP AS"
                " SELECT NULL::bigint AS user_pk, NULL::timestamptz AS since LIMIT 0"
            )
            event_filter = ""
        else:
            cursor.execute(
                f"""
                CREATE TEMP TABLE session_restart ON COMMIT DROP AS
                WITH gone AS (
                    DELETE FROM health_session
                    WHERE product_id = %(product)s
                      AND ended_at >= %(since)s - interval '{SESSION_GAP}'
                    RETURNING user_pk, started_at
                )
                SELECT user_pk, least(min(started_at), %(since)s) AS since
                FROM gone GROUP BY user_pk
                """,
                params,
            )
            cursor.execute("ANALYZE session_restart")
            event_filter = """
              AND event_time >= coalesce((SELECT min(since) FROM session_restart), %(since)s)
              AND event_time >= coalesce(
                  (SELECT r.since FROM session_restart r WHERE r.user_pk = e.user_pk),
                  %(since)s)
            """
        cursor.execute(
            f"""
            INSERT INTO health_session (organization_id, product_id, user_pk, account_pk, day,
                                        started_at, ended_at, events)
            WITH marked AS (
                SELECT id, user_pk, account_pk, event_time,
                       CASE WHEN event_time - lag(event_time) OVER w < interval '{SESSION_GAP}'
                            THEN 0 ELSE 1 END AS starts
                FROM ingestion_event e
                WHERE product_id = %(product)s AND type IN (1, 2, 3) AND user_pk IS NOT NULL
                  AND event_time < %(cutoff)s
                  {event_filter}
                WINDOW w AS (PARTITION BY user_pk ORDER BY event_time, id)
            ),
            numbered AS (
                SELECT user_pk, account_pk, event_time, starts,
                       sum(starts) OVER (PARTITION BY user_pk ORDER BY event_time, id
                                         ROWS UNBOUNDED PRECEDING) AS session_no
                FROM marked
            )
            SELECT %(org)s, %(product)s, user_pk,
                   min(account_pk) FILTER (WHERE starts = 1),
                   (min(event_time) AT TIME ZONE %(tz)s)::date,
                   min(event_time), max(event_time), count(*)
            FROM numbered
            GROUP BY user_pk, session_no
            """,
            params,
        )
        inserted = cursor.rowcount
        cursor.execute("DROP TABLE session_restart")
    state.sessions_cutoff = windows.cutoff
    state.save(update_fields=["sessions_cutoff"])
    return inserted


# --- layer 2: per-account KPIs and drill-down lists ------------------------------------

# Feature and core-item maps for the product's event keys. `item` numbers core items.
_MAPS = """
feature_keys AS (
    SELECT DISTINCT k.id AS event_key_id, f.id AS feature_id
    FROM ingestion_eventkey k
    JOIN health_feature f ON f.product_id = k.product_id
    CROSS JOIN LATERAL jsonb_array_elements(f.rules) AS rule
    WHERE k.product_id = %(product)s
      AND vitals_rule_matches(k.kind, k.name, rule)
),
core_items AS (
    SELECT item.ordinality AS item, item.value AS spec
    FROM health_healthsettings s
    CROSS JOIN LATERAL jsonb_array_elements(s.core_items) WITH ORDINALITY AS item
    WHERE s.product_id = %(product)s
),
core_features AS (
    SELECT DISTINCT c.item, f.id AS feature_id
    FROM core_items c
    JOIN health_feature f ON f.product_id = %(product)s AND (
        f.key = c.spec->>'feature'
        OR f.module_path = c.spec->>'module'
        OR starts_with(f.module_path, (c.spec->>'module') || '/')
        OR (c.spec->>'label') = ANY(f.labels))
),
key_items AS (
    SELECT DISTINCT fk.event_key_id, cf.item
    FROM feature_keys fk JOIN core_features cf USING (feature_id)
),
core_keys AS (SELECT DISTINCT event_key_id FROM key_items)
"""

_WINDOWS = """
win(name, w_start, w_end, h_start) AS (
    VALUES ('W', %(w_start)s::date, %(w_end)s::date, %(h_start)s::date),
           ('P', %(p_start)s::date, %(p_end)s::date, %(hp_start)s::date)
)
"""


def account_health_rebuild(*, product: Product, windows: Windows, settings: HealthSettings) -> int:
    """Write one AccountHealth row per account known by the end of the as-of day."""
    params = {
        **windows.params(),
        "org": product.organization_id,
        "product": product.pk,
        "tz": product.organization.timezone,
        "k": len(settings.core_items),
        "wau": settings.stickiness_mode == "wau",
        "cfu_lower": settings.cfu_lower,
        "cfu_upper": settings.cfu_upper,
        "cov_lower": settings.coverage_lower,
        "cov_upper": settings.coverage_upper,
        "stk_lower": settings.stickiness_lower,
        "stk_upper": settings.stickiness_upper,
        "score_lower": settings.score_lower,
        "score_upper": settings.score_upper,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM health_accounthealth WHERE product_id = %(product)s AND as_of = %(as_of)s",
            params,
        )
        cursor.execute(_ACCOUNT_HEALTH_SQL, params)
        return cursor.rowcount


_ACCOUNT_HEALTH_SQL = f"""
INSERT INTO health_accounthealth (
    organization_id, product_id, as_of, account_id,
    active_users, active_users_prev, avg_dau, avg_dau_prev, avg_wau, avg_wau_prev,
    stickiness, stickiness_prev, core_feature_usage, core_feature_usage_prev,
    active_user_coverage, active_user_coverage_prev, product_score, product_score_prev,
    health, health_prev, cfu_band, coverage_band, stickiness_band,
    users_at_risk, users_at_risk_prev, visits, visits_prev,
    avg_session_seconds, avg_session_seconds_prev, users_lifetime, visits_lifetime,
    product_first_seen, product_last_seen, last_seen, created_date, drilldown)
WITH {_MAPS},
{_WINDOWS},
accounts AS (
    SELECT a.id AS account_pk, a.traits,
           COALESCE(vitals_trait_day(a.traits->>'createdAt', %(tz)s),
                    (a.first_seen_at AT TIME ZONE %(tz)s)::date) AS created_date
    FROM ingestion_account a
    WHERE a.organization_id = %(org)s AND a.first_seen_at < %(cutoff)s
),
activity AS (
    SELECT * FROM health_daily_activity
    WHERE product_id = %(product)s AND day <= %(as_of)s
),
user_days AS (
    SELECT DISTINCT account_pk, user_pk, day FROM activity
    WHERE day >= %(hp_start)s::date - 6
),
-- per (window, account, user): active in the window, core items used, core events
window_users AS (
    SELECT win.name, a.account_pk, a.user_pk, count(DISTINCT ki.item) AS items_used
    FROM win
    JOIN activity a ON a.day BETWEEN win.w_start AND win.w_end
    LEFT JOIN key_items ki ON ki.event_key_id = a.event_key_id
    GROUP BY win.name, a.account_pk, a.user_pk
),
window_accounts AS (
    SELECT name, account_pk, count(*) AS mau,
           avg(items_used) AS mean_items
    FROM window_users GROUP BY name, account_pk
),
dau AS (
    SELECT win.name, d.account_pk, count(*) AS user_days
    FROM win JOIN user_days d ON d.day BETWEEN win.w_start AND win.w_end
    GROUP BY win.name, d.account_pk
),
wau AS (
    -- a user counts on day d when active on any of d-6 .. d
    SELECT name, account_pk, count(*) AS user_days FROM (
        SELECT DISTINCT win.name, d.account_pk, d.user_pk, covered.day
        FROM win
        JOIN user_days d ON d.day BETWEEN win.w_start - 6 AND win.w_end
        CROSS JOIN LATERAL generate_series(
            greatest(d.day, win.w_start), least(d.day + 6, win.w_end), interval '1 day'
        ) AS covered(day)
    ) spans
    GROUP BY name, account_pk
),
history_users AS (
    SELECT DISTINCT win.name, d.account_pk, d.user_pk
    FROM win JOIN user_days d ON d.day BETWEEN win.h_start AND win.w_end
),
at_risk AS (
    SELECT h.name, h.account_pk, h.user_pk
    FROM history_users h
    LEFT JOIN window_users wu USING (name, account_pk, user_pk)
    WHERE %(k)s > 0
      AND coalesce(wu.items_used, 0)::float8 / %(k)s * 100 < %(cfu_lower)s
),
history_counts AS (
    SELECT h.name, h.account_pk, count(*) AS history_users,
           count(r.user_pk) AS users_at_risk
    FROM history_users h
    LEFT JOIN at_risk r USING (name, account_pk, user_pk)
    GROUP BY h.name, h.account_pk
),
sessions AS (
    SELECT * FROM health_session
    WHERE product_id = %(product)s AND account_pk IS NOT NULL AND day <= %(as_of)s
),
window_sessions AS (
    SELECT win.name, s.account_pk, count(*) AS visits,
           avg(extract(epoch FROM s.ended_at - s.started_at)) AS avg_seconds
    FROM win JOIN sessions s ON s.day BETWEEN win.w_start AND win.w_end
    GROUP BY win.name, s.account_pk
),
lifetime AS (
    SELECT account_pk, count(DISTINCT user_pk) AS users,
           min(first_at) AS first_seen, max(last_at) AS last_seen
    FROM activity GROUP BY account_pk
),
lifetime_sessions AS (
    SELECT account_pk, count(*) AS visits FROM sessions GROUP BY account_pk
),
org_last_seen AS (
    SELECT account_pk, max(last_at) AS last_seen
    FROM health_daily_activity
    WHERE organization_id = %(org)s AND last_at < %(cutoff)s
    GROUP BY account_pk
),
metrics AS (
    SELECT acc.account_pk, win.name,
           coalesce(wa.mau, 0) AS mau,
           coalesce(dau.user_days, 0) / 30.0::float8 AS avg_dau,
           coalesce(wau.user_days, 0) / 30.0::float8 AS avg_wau,
           CASE WHEN coalesce(wa.mau, 0) > 0 THEN
               (CASE WHEN %(wau)s THEN coalesce(wau.user_days, 0) ELSE coalesce(dau.user_days, 0)
                END) / 30.0::float8 / wa.mau * 100 END AS stickiness,
           CASE WHEN coalesce(wa.mau, 0) > 0 AND %(k)s > 0
               THEN wa.mean_items::float8 / %(k)s * 100 END AS cfu,
           CASE WHEN coalesce(hc.history_users, 0) > 0
               THEN coalesce(wa.mau, 0)::float8 / hc.history_users * 100 END AS coverage,
           CASE WHEN %(k)s > 0 THEN coalesce(hc.users_at_risk, 0) ELSE 0 END AS users_at_risk,
           coalesce(ws.visits, 0) AS visits,
           ws.avg_seconds::float8 AS avg_seconds
    FROM accounts acc
    CROSS JOIN win
    LEFT JOIN window_accounts wa ON wa.account_pk = acc.account_pk AND wa.name = win.name
    LEFT JOIN dau ON dau.account_pk = acc.account_pk AND dau.name = win.name
    LEFT JOIN wau ON wau.account_pk = acc.account_pk AND wau.name = win.name
    LEFT JOIN history_counts hc ON hc.account_pk = acc.account_pk AND hc.name = win.name
    LEFT JOIN window_sessions ws ON ws.account_pk = acc.account_pk AND ws.name = win.name
),
scored AS (
    SELECT m.*, (m.cfu + m.stickiness) / 2 AS score FROM metrics m
),
banded AS (
    SELECT s.*,
        CASE WHEN s.mau = 0 THEN 'Inactive'
             WHEN s.score IS NULL THEN 'Not configured'
             WHEN s.score < %(score_lower)s THEN 'At Risk'
             WHEN s.score < %(score_upper)s THEN 'Neutral'
             ELSE 'Healthy' END AS health,
        CASE WHEN s.cfu IS NULL THEN ''
             WHEN s.cfu < %(cfu_lower)s THEN 'Low'
             WHEN s.cfu < %(cfu_upper)s THEN 'Moderate' ELSE 'High' END AS cfu_band,
        CASE WHEN s.coverage IS NULL OR s.mau = 0 THEN ''
             WHEN s.coverage < %(cov_lower)s THEN 'Low'
             WHEN s.coverage < %(cov_upper)s THEN 'Moderate' ELSE 'High' END AS coverage_band,
        CASE WHEN s.stickiness IS NULL THEN ''
             WHEN s.stickiness < %(stk_lower)s THEN 'Low'
             WHEN s.stickiness < %(stk_upper)s THEN 'Moderate' ELSE 'High' END
             AS stickiness_band
    FROM scored s
)
SELECT %(org)s, %(product)s, %(as_of)s, acc.account_pk,
       w.mau, p.mau, w.avg_dau, p.avg_dau, w.avg_wau, p.avg_wau,
       w.stickiness, p.stickiness, w.cfu, p.cfu, w.coverage, p.coverage, w.score, p.score,
       w.health, p.health, w.cfu_band, w.coverage_band, w.stickiness_band,
       w.users_at_risk, p.users_at_risk, w.visits, p.visits, w.avg_seconds, p.avg_seconds,
       coalesce(lt.users, 0), coalesce(ls.visits, 0), lt.first_seen, lt.last_seen,
       ols.last_seen, acc.created_date, '{{}}'::jsonb
FROM accounts acc
JOIN banded w ON w.account_pk = acc.account_pk AND w.name = 'W'
JOIN banded p ON p.account_pk = acc.account_pk AND p.name = 'P'
LEFT JOIN lifetime lt ON lt.account_pk = acc.account_pk
LEFT JOIN lifetime_sessions ls ON ls.account_pk = acc.account_pk
LEFT JOIN org_last_seen ols ON ols.account_pk = acc.account_pk
"""


def drilldown_rebuild(*, product: Product, windows: Windows) -> int:
    """SPEC section 8 lists for every account, stored as JSON on its AccountHealth row."""
    params = {
        **windows.params(),
        "org": product.organization_id,
        "product": product.pk,
    }
    with connection.cursor() as cursor:
        cursor.execute(_DRILLDOWN_SQL, params)
        return cursor.rowcount


_DRILLDOWN_SQL = f"""
WITH {_MAPS},
window_activity AS (
    SELECT account_pk, user_pk, event_key_id, events FROM health_daily_activity
    WHERE product_id = %(product)s AND day BETWEEN %(w_start)s AND %(w_end)s
),
current_account AS MATERIALIZED (
    -- a user's current account: the latest membership up to the end of the as-of day
    SELECT DISTINCT ON (m.user_id) m.user_id AS user_pk, m.account_id AS account_pk
    FROM ingestion_accountmembership m
    WHERE m.organization_id = %(org)s AND m.event_time < %(cutoff)s
    ORDER BY m.user_id, m.event_time DESC, m.event_id DESC
),
history_members AS MATERIALIZED (
    SELECT DISTINCT d.account_pk, d.user_pk
    FROM health_daily_activity d
    JOIN current_account c ON c.user_pk = d.user_pk AND c.account_pk = d.account_pk
    WHERE d.product_id = %(product)s AND d.day BETWEEN %(h_start)s AND %(as_of)s
),
window_user_items AS MATERIALIZED (
    SELECT a.account_pk, a.user_pk, count(DISTINCT ki.item) AS items_used
    FROM window_activity a JOIN key_items ki USING (event_key_id)
    GROUP BY a.account_pk, a.user_pk
),
window_user_core_events AS MATERIALIZED (
    -- an event counts once however many core items its features fall in
    SELECT account_pk, user_pk, sum(events) AS core_events
    FROM window_activity WHERE event_key_id IN (SELECT event_key_id FROM core_keys)
    GROUP BY account_pk, user_pk
),
user_sessions AS MATERIALIZED (
    SELECT account_pk, user_pk,
           count(*) FILTER (WHERE day BETWEEN %(w_start)s AND %(w_end)s) AS visits,
           count(*) AS visits_lifetime
    FROM health_session
    WHERE product_id = %(product)s AND account_pk IS NOT NULL AND day <= %(as_of)s
    GROUP BY account_pk, user_pk
),
member_usage AS MATERIALIZED (
    SELECT h.account_pk, h.user_pk, u.external_id,
           coalesce(wi.items_used, 0) AS items_used,
           coalesce(wc.core_events, 0) AS core_events,
           coalesce(us.visits, 0) AS visits,
           coalesce(us.visits_lifetime, 0) AS visits_lifetime
    FROM history_members h
    JOIN ingestion_enduser u ON u.id = h.user_pk
    LEFT JOIN window_user_items wi USING (account_pk, user_pk)
    LEFT JOIN window_user_core_events wc USING (account_pk, user_pk)
    LEFT JOIN user_sessions us USING (account_pk, user_pk)
),
users_lists AS MATERIALIZED (
    SELECT account_pk,
           jsonb_agg(jsonb_build_object(
               'user_id', external_id, 'core_items', items_used, 'core_events', core_events,
               'visits', visits, 'visits_lifetime', visits_lifetime)
               ORDER BY items_used DESC, core_events DESC, external_id) AS by_core,
           jsonb_agg(external_id ORDER BY visits DESC, external_id) AS by_visits
    FROM member_usage GROUP BY account_pk
),
computed_accounts AS MATERIALIZED (
    SELECT account_id AS account_pk FROM health_accounthealth
    WHERE product_id = %(product)s AND as_of = %(as_of)s
),
feature_events AS MATERIALIZED (
    SELECT a.account_pk, fk.feature_id, sum(a.events) AS events
    FROM window_activity a JOIN feature_keys fk USING (event_key_id)
    GROUP BY a.account_pk, fk.feature_id
),
feature_counts AS MATERIALIZED (
    SELECT c.account_pk, f.key, coalesce(fe.events, 0) AS events
    FROM computed_accounts c
    CROSS JOIN health_feature f
    LEFT JOIN feature_events fe ON fe.account_pk = c.account_pk AND fe.feature_id = f.id
    WHERE f.product_id = %(product)s
),
key_modules AS MATERIALIZED (
    SELECT DISTINCT fk.event_key_id, m.path
    FROM feature_keys fk
    JOIN health_feature f ON f.id = fk.feature_id
    JOIN health_module m ON m.product_id = %(product)s
        AND (f.module_path = m.path OR starts_with(f.module_path, m.path || '/'))
),
module_events AS MATERIALIZED (
    SELECT a.account_pk, km.path, sum(a.events) AS events
    FROM window_activity a JOIN key_modules km USING (event_key_id)
    GROUP BY a.account_pk, km.path
),
module_counts AS MATERIALIZED (
    SELECT c.account_pk, m.path, coalesce(me.events, 0) AS events
    FROM computed_accounts c
    CROSS JOIN health_module m
    LEFT JOIN module_events me ON me.account_pk = c.account_pk AND me.path = m.path
    WHERE m.product_id = %(product)s
),
feature_lists AS MATERIALIZED (
    SELECT account_pk,
           jsonb_agg(jsonb_build_array(key, events) ORDER BY events DESC, key) AS features,
           coalesce(jsonb_agg(key ORDER BY key) FILTER (WHERE events = 0), '[]') AS zero
    FROM feature_counts GROUP BY account_pk
),
module_lists AS MATERIALIZED (
    SELECT account_pk,
           jsonb_agg(jsonb_build_array(path, events) ORDER BY events DESC, path) AS modules,
           coalesce(jsonb_agg(path ORDER BY path) FILTER (WHERE events = 0), '[]') AS zero
    FROM module_counts GROUP BY account_pk
)
UPDATE health_accounthealth h SET drilldown = jsonb_build_object(
    'users', coalesce(ul.by_core, '[]'::jsonb),
    'top_users_by_core', coalesce(
        (SELECT jsonb_agg(u->'user_id') FROM jsonb_array_elements(ul.by_core) u), '[]'::jsonb),
    'top_users_by_visits', coalesce(ul.by_visits, '[]'::jsonb),
    'features', coalesce(fl.features, '[]'::jsonb),
    'modules', coalesce(ml.modules, '[]'::jsonb),
    'zero_usage_features', coalesce(fl.zero, '[]'::jsonb),
    'zero_usage_modules', coalesce(ml.zero, '[]'::jsonb))
FROM health_accounthealth target
LEFT JOIN users_lists ul ON ul.account_pk = target.account_id
LEFT JOIN feature_lists fl ON fl.account_pk = target.account_id
LEFT JOIN module_lists ml ON ml.account_pk = target.account_id
WHERE h.id = target.id AND target.product_id = %(product)s AND target.as_of = %(as_of)s
"""


# --- layer 3: the portfolio ------------------------------------------------------------


def portfolio_rebuild(*, product: Product, windows: Windows, settings: HealthSettings) -> None:
    params = {
        **windows.params(),
        "org": product.organization_id,
        "product": product.pk,
        "tz": product.organization.timezone,
        "k": len(settings.core_items),
        "cfu_lower": settings.cfu_lower,
    }
    with connection.cursor() as cursor:
        cursor.execute(_PORTFOLIO_SQL, params)
        (summary,) = cursor.fetchone()
    from health.models import PortfolioHealth

    # Django reads jsonb from raw cursors as text.
    summary = json.loads(summary) if isinstance(summary, str) else summary

    PortfolioHealth.objects.update_or_create(
        organization_id=product.organization_id,
        product=product,
        as_of=windows.as_of,
        defaults={"summary": summary},
    )


_PORTFOLIO_SQL = f"""
WITH {_MAPS},
{_WINDOWS},
rows AS (
    SELECT h.*, a.traits FROM health_accounthealth h
    JOIN ingestion_account a ON a.id = h.account_id
    WHERE h.product_id = %(product)s AND h.as_of = %(as_of)s
),
window_users AS (
    SELECT win.name, a.account_pk, a.user_pk, count(DISTINCT ki.item) AS items_used
    FROM win
    JOIN health_daily_activity a ON a.product_id = %(product)s
        AND a.day BETWEEN win.w_start AND win.w_end
    LEFT JOIN key_items ki ON ki.event_key_id = a.event_key_id
    GROUP BY win.name, a.account_pk, a.user_pk
),
history_users AS (
    SELECT DISTINCT win.name, d.account_pk, d.user_pk
    FROM win JOIN health_daily_activity d ON d.product_id = %(product)s
        AND d.day BETWEEN win.h_start AND win.w_end
),
users_at_risk AS (
    SELECT h.name, count(DISTINCT h.user_pk) AS users
    FROM history_users h
    LEFT JOIN window_users wu USING (name, account_pk, user_pk)
    WHERE %(k)s > 0
      AND coalesce(wu.items_used, 0)::float8 / %(k)s * 100 < %(cfu_lower)s
    GROUP BY h.name
),
members AS (
    SELECT user_id AS user_pk FROM ingestion_accountmembership
    WHERE organization_id = %(org)s AND event_time < %(cutoff)s
    UNION
    SELECT user_pk FROM health_daily_activity
    WHERE organization_id = %(org)s AND with_context_group AND day <= %(as_of)s
),
leads AS (
    SELECT created_date,
           lower(coalesce(traits->>'status', '')) IN ('lead', 'prospect') AS is_lead
    FROM rows
)
SELECT jsonb_build_object(
    'as_of', %(as_of)s::date,
    'total_accounts', (SELECT count(*) FROM rows),
    'total_users', (SELECT count(*) FROM members),
    'active_accounts', (SELECT count(*) FROM rows WHERE active_users > 0),
    'active_accounts_prev', (SELECT count(*) FROM rows WHERE active_users_prev > 0),
    'accounts_at_risk', (SELECT count(*) FROM rows WHERE health = 'At Risk'),
    'accounts_at_risk_prev', (SELECT count(*) FROM rows WHERE health_prev = 'At Risk'),
    'users_at_risk', coalesce((SELECT users FROM users_at_risk WHERE name = 'W'), 0),
    'users_at_risk_prev', coalesce((SELECT users FROM users_at_risk WHERE name = 'P'), 0),
    'new_accounts', (SELECT count(*) FROM leads
                     WHERE created_date BETWEEN %(w_start)s AND %(w_end)s),
    'new_accounts_prev', (SELECT count(*) FROM leads
                          WHERE created_date BETWEEN %(p_start)s AND %(p_end)s),
    'new_leads', (SELECT count(*) FROM leads
                  WHERE is_lead AND created_date BETWEEN %(w_start)s AND %(w_end)s),
    'new_leads_prev', (SELECT count(*) FROM leads
                       WHERE is_lead AND created_date BETWEEN %(p_start)s AND %(p_end)s),
    'health', jsonb_build_object(
        'product_score', (SELECT jsonb_build_object(
            'At Risk', count(*) FILTER (WHERE health = 'At Risk'),
            'Neutral', count(*) FILTER (WHERE health = 'Neutral'),
            'Healthy', count(*) FILTER (WHERE health = 'Healthy'),
            'mean', avg(product_score)) FROM rows WHERE active_users > 0),
        'core_feature_usage', (SELECT jsonb_build_object(
            'Low', count(*) FILTER (WHERE cfu_band = 'Low'),
            'Moderate', count(*) FILTER (WHERE cfu_band = 'Moderate'),
            'High', count(*) FILTER (WHERE cfu_band = 'High'),
            'mean', avg(core_feature_usage)) FROM rows WHERE active_users > 0),
        'active_user_coverage', (SELECT jsonb_build_object(
            'Low', count(*) FILTER (WHERE coverage_band = 'Low'),
            'Moderate', count(*) FILTER (WHERE coverage_band = 'Moderate'),
            'High', count(*) FILTER (WHERE coverage_band = 'High'),
            'mean', avg(active_user_coverage)) FROM rows WHERE active_users > 0),
        'stickiness', (SELECT jsonb_build_object(
            'Low', count(*) FILTER (WHERE stickiness_band = 'Low'),
            'Moderate', count(*) FILTER (WHERE stickiness_band = 'Moderate'),
            'High', count(*) FILTER (WHERE stickiness_band = 'High'),
            'mean', avg(stickiness)) FROM rows WHERE active_users > 0)
    )
)
"""


_PLANNED_TABLES = (
    "health_daily_activity",
    "health_session",
    "ingestion_accountmembership",
    "ingestion_eventkey",
    "ingestion_account",
    "ingestion_enduser",
)


def _analyze_if_stale(*, full: bool) -> None:
    """The window statements join large rollups: planned on missing statistics (a fresh
    database, a first run) they can take minutes instead of seconds. ANALYZE samples a
    fixed number of rows, so it stays cheap at any size."""
    with connection.cursor() as cursor:
        if not full:
            cursor.execute(
                """
                SELECT count(*) FROM pg_stat_user_tables
                WHERE relname = ANY(%s)
                  AND last_analyze IS NULL AND last_autoanalyze IS NULL
                """,
                [list(_PLANNED_TABLES)],
            )
            if cursor.fetchone()[0] == 0:
                return
        cursor.execute(f"ANALYZE {', '.join(_PLANNED_TABLES)}")


def health_compute_sql(*, product: Product, as_of: date, full: bool) -> int:
    """Run every layer for one product and as-of day. Caller owns the transaction."""
    windows = Windows.for_day(as_of, product.organization.timezone)
    settings = health_settings_for(product=product)
    # Take the touched-day marks first: each later statement reads events with a newer
    # snapshot, so every event behind a mark taken here is seen. An ingest that commits
    # meanwhile waits on the deleted mark and writes a new one for the next run.
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM ingestion_touchedday WHERE product_id = %s RETURNING day", [product.pk]
        )
        touched_days = sorted({row[0] for row in cursor.fetchall()})
    daily_activity_rebuild(product=product, days=None if full else touched_days)
    sessions_rebuild(product=product, windows=windows, touched_days=None if full else touched_days)
    _analyze_if_stale(full=full)
    rows = account_health_rebuild(product=product, windows=windows, settings=settings)
    # The drill-down and portfolio join this as-of day's rows; unanalyzed, a new day looks
    # like one row and the planner nests loops over every account.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE health_accounthealth")
    drilldown_rebuild(product=product, windows=windows)
    portfolio_rebuild(product=product, windows=windows, settings=settings)
    return rows
