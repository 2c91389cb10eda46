"""Day sums of W and P per account (DAU, WAU, visits, session time), through
health_account_day: per account and day of W and P (D-59 .. D), the users active that day,
the users active on one of the 7 days ending that day, the sessions starting that day and
their total duration. A night stores the new day, reads the stored days leaving W and P,
and rewrites the days whose rows changed (and the WAU of the 6 days after them)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from health.engine.state.sql import DAY_FIELDS
from health.engine.windows import WAU_SPAN, Windows

# The days D-59 .. D: every day of W or P.
KEPT_DAYS = 60

_DAY_ROWS_SQL = f"""
INSERT INTO health_account_day (organization_id, product_id, day, account_pk, dau, wau,
                                visits, seconds)
SELECT %(org)s, %(product)s, d.day, r.account_pk,
       count(*) FILTER (WHERE r.day = d.day), count(DISTINCT r.user_pk),
       coalesce(sum(r.visits) FILTER (WHERE r.day = d.day), 0),
       coalesce(sum(r.session_seconds) FILTER (WHERE r.day = d.day), 0)
FROM unnest(%(days)s::date[]) AS d(day)
JOIN health_user_day r ON r.product_id = %(product)s
    AND r.day BETWEEN d.day - {WAU_SPAN - 1} AND d.day
GROUP BY d.day, r.account_pk
ORDER BY d.day, r.account_pk
"""

# Every day of W and P at once: each daily row covers its day and the next ones up to the
# pair's next active day, 7 days at most (WAU); DAU, visits and time are its own day's.
_ALL_DAYS_SQL = f"""
INSERT INTO health_account_day (organization_id, product_id, day, account_pk, dau, wau,
                                visits, seconds)
WITH rows AS (
    SELECT account_pk, day, visits, session_seconds,
           least(coalesce(lead(day) OVER (PARTITION BY account_pk, user_pk ORDER BY day) - 1,
                          day + {WAU_SPAN - 1}),
                 day + {WAU_SPAN - 1}, %(as_of)s) AS covered_to
    FROM health_user_day
    WHERE product_id = %(product)s
      AND day BETWEEN %(p_start)s::date - {WAU_SPAN - 1} AND %(as_of)s
),
covered AS (
    SELECT r.account_pk, c.day::date AS day,
           (c.day = r.day)::int AS active, CASE WHEN c.day = r.day THEN r.visits END AS visits,
           CASE WHEN c.day = r.day THEN r.session_seconds END AS seconds
    FROM rows r
    CROSS JOIN LATERAL generate_series(greatest(r.day, %(p_start)s::date), r.covered_to,
                                       interval '1 day') AS c(day)
)
SELECT %(org)s, %(product)s, day, account_pk, sum(active), count(*),
       coalesce(sum(visits), 0), coalesce(sum(seconds), 0)
FROM covered GROUP BY day, account_pk
ORDER BY day, account_pk
"""


def _sums(weights: str) -> str:
    """Per account, the day fields summed over W and P with per-day weights in columns
    w and p of `weights` (joined on day)."""
    return ", ".join(
        f"sum({value} * {window})::{'float8' if value == 'seconds' else 'int'} AS {value}_{window}"
        for value in ("dau", "wau", "visits", "seconds")
        for window in ("w", "p")
    )


def day_sums_rebuild(cursor: Any, params: dict[str, Any]) -> None:
    """health_account_day for D-59 .. D, and the sums of W and P into the account state."""
    cursor.execute("DELETE FROM health_account_day WHERE product_id = %(product)s", params)
    cursor.execute(_ALL_DAYS_SQL, params)
    # The updates below join the states just written: planned on the statistics of an
    # empty table (a first run, or autovacuum behind), they become nested loops that ran
    # for 20 minutes at 10,000 accounts. ANALYZE needs the owner: tenancy migration 0002.
    cursor.execute(
        "SELECT vitals_analyze(ARRAY['health_pair_state', 'health_account_state',"
        " 'health_account_day'])"
    )
    cursor.execute(
        f"""
        UPDATE health_account_state a SET
            {", ".join(f"{field} = coalesce(s.{field}, 0)" for field in DAY_FIELDS)}
        FROM health_account_state t
        LEFT JOIN (
            SELECT account_pk, {_sums("weights")}
            FROM (
                SELECT account_pk, dau, wau, visits, seconds,
                       (day >= %(w_start)s)::int AS w, (day <= %(p_end)s)::int AS p
                FROM health_account_day WHERE product_id = %(product)s
            ) weights
            GROUP BY account_pk
        ) s USING (account_pk)
        WHERE t.product_id = %(product)s
          AND a.product_id = t.product_id AND a.account_pk = t.account_pk
        """,
        params,
    )


def day_sums_move(
    cursor: Any, params: dict[str, Any], old: Windows, new: Windows, changed: list[date]
) -> None:
    """Rewrite the stored days whose values changed (the new days, rewritten days and the
    WAU of the 6 days after each), then move each account's sums by the days whose window
    changed or whose values did: new value where in the new window, minus old value where
    in the old one."""
    kept_from = new.as_of - timedelta(days=KEPT_DAYS - 1)
    rewritten = {
        day + timedelta(days=n)
        for day in [*changed, *_days(old.as_of, new.as_of)[1:]]
        for n in range(WAU_SPAN)
    }
    rewritten = {day for day in rewritten if kept_from <= day <= new.as_of}
    w_old, w_new = set(_days(old.w_start, old.w_end)), set(_days(new.w_start, new.w_end))
    p_old, p_new = set(_days(old.p_start, old.p_end)), set(_days(new.p_start, new.p_end))
    days = sorted(((w_old ^ w_new) | (p_old ^ p_new) | rewritten) & (w_old | w_new | p_old | p_new))
    cursor.execute(
        """
        CREATE TEMP TABLE st_old_days ON COMMIT DROP AS
        WITH gone AS (
            DELETE FROM health_account_day
            WHERE product_id = %(product)s AND day = ANY(%(days)s) RETURNING *
        )
        SELECT * FROM gone
        """,
        {**params, "days": sorted(rewritten)},
    )
    cursor.execute(_DAY_ROWS_SQL, {**params, "days": sorted(rewritten)})
    weights = {
        "s_days": days,
        "w_new": [int(day in w_new) for day in days],
        "w_old": [int(day in w_old) for day in days],
        "p_new": [int(day in p_new) for day in days],
        "p_old": [int(day in p_old) for day in days],
        "rewritten": sorted(rewritten),
    }
    cursor.execute(
        f"""
        WITH days AS (
            SELECT * FROM unnest(%(s_days)s::date[], %(w_new)s::int[], %(w_old)s::int[],
                                 %(p_new)s::int[], %(p_old)s::int[])
                AS t(day, w_new, w_old, p_new, p_old)
        ),
        weighted AS (
            SELECT a.account_pk, a.dau, a.wau, a.visits, a.seconds, d.w_new AS w, d.p_new AS p
            FROM health_account_day a JOIN days d USING (day)
            WHERE a.product_id = %(product)s AND a.day = ANY(%(s_days)s)
            UNION ALL
            SELECT a.account_pk, a.dau, a.wau, a.visits, a.seconds, -d.w_old, -d.p_old
            FROM (
                SELECT * FROM health_account_day
                WHERE product_id = %(product)s AND day = ANY(%(s_days)s)
                  AND NOT day = ANY(%(rewritten)s)
                UNION ALL
                SELECT * FROM st_old_days
            ) a JOIN days d USING (day)
        ),
        delta AS (SELECT account_pk, {_sums("weighted")} FROM weighted GROUP BY account_pk)
        UPDATE health_account_state a SET
            {", ".join(f"{field} = a.{field} + d.{field}" for field in DAY_FIELDS)}
        FROM delta d
        WHERE a.product_id = %(product)s AND a.account_pk = d.account_pk
        """,
        {**params, **weights},
    )
    cursor.execute(
        "DELETE FROM health_account_day WHERE product_id = %(product)s AND day < %(kept_from)s",
        {**params, "kept_from": kept_from},
    )
    cursor.execute("DROP TABLE st_old_days")


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
