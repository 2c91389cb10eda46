"""health_pair_state: per (account, user), the latest active day <= D and <= D-30 and, per
core item, the latest day <= D and <= D-30 it was used, plus lifetime visits and times.

Whether a user is active in W, P, H or H' and which items they used there are comparisons
of these with D. Moving D forward only raises them, from the rows of the days that enter
(D0, D] and (D0-30, D-30], so a pair changes only when it has rows on such a day or on a
rewritten day; its contribution to its account also changes when it has rows on a day
leaving a window (D0-60 .. D-60, D0-180 .. D-180, D0-210 .. D-210). A pair that lost
activity on a day already counted (a late `group` call) is recomputed from all its rows.
"""

from __future__ import annotations

from typing import Any

from health.engine.state.sql import (
    PAIR_FIELDS,
    as_count,
    at_risk,
    contributions,
    item_days,
    items_merged,
    items_used,
)

_STATE_COLUMNS = (
    "first_at, last_at, last_day, last_day_p, item_last, item_last_p, visits_lifetime,"
    " items_w, items_p, risk_w, risk_p"
)


def _derived(k: int) -> str:
    """Items used in W and P and the at-risk flags of a row of per-item days, as of D."""
    items_w = items_used(k, "item_last", "%(w_start)s")
    items_p = items_used(k, "item_last_p", "%(p_start)s")
    return f"""
        {items_w} AS items_w, {items_p} AS items_p,
        {at_risk(items_w, "last_day >= %(h_start)s")} AS risk_w,
        {at_risk(items_p, "last_day_p >= %(hp_start)s")} AS risk_p
    """


def _from_rows_sql(k: int, pairs: str) -> str:
    """Pair states from all their daily rows up to D; `pairs` narrows which pairs."""
    return f"""
    SELECT account_pk, user_pk, first_at, last_at, last_day, last_day_p, item_last,
           item_last_p, visits_lifetime, {_derived(k)}
    FROM (
        SELECT account_pk, user_pk, min(first_at) AS first_at, max(last_at) AS last_at,
               max(day) AS last_day, max(day) FILTER (WHERE day <= %(p_end)s) AS last_day_p,
               {item_days(k)} AS item_last, {item_days(k, "day <= %(p_end)s")} AS item_last_p,
               sum(visits)::int AS visits_lifetime
        FROM health_user_day
        WHERE product_id = %(product)s AND day <= %(as_of)s {pairs}
        GROUP BY account_pk, user_pk
    ) pairs
    """


def pairs_rebuild(cursor: Any, params: dict[str, Any], k: int) -> None:
    cursor.execute("DELETE FROM health_pair_state WHERE product_id = %(product)s", params)
    cursor.execute(
        f"""
        INSERT INTO health_pair_state (organization_id, product_id, account_pk, user_pk,
                                       {_STATE_COLUMNS})
        SELECT %(org)s, %(product)s, account_pk, user_pk, {_STATE_COLUMNS}
        FROM ({_from_rows_sql(k, "")}) computed
        """,
        params,
    )


def pairs_move(cursor: Any, params: dict[str, Any], k: int) -> None:
    """Compute the affected pairs' new states beside their old ones (st_calc), write them,
    and leave st_calc for the accounts' deltas."""
    cursor.execute(
        """
        CREATE TEMP TABLE st_pairs ON COMMIT DROP AS
        SELECT account_pk, user_pk FROM health_user_day
        WHERE product_id = %(product)s AND (day = ANY(%(moved)s) OR day = ANY(%(changed)s))
        UNION
        SELECT account_pk, user_pk FROM l1_old_user_day
        """,
        params,
    )
    cursor.execute(
        """
        CREATE TEMP TABLE st_shrunk ON COMMIT DROP AS
        SELECT DISTINCT o.account_pk, o.user_pk FROM l1_old_user_day o
        LEFT JOIN health_user_day n ON n.product_id = o.product_id
            AND n.account_pk = o.account_pk AND n.user_pk = o.user_pk AND n.day = o.day
        WHERE o.day <= %(previous)s
          AND (n.day IS NULL OR (o.core_lo & ~n.core_lo) <> 0
               OR (o.core_hi & ~n.core_hi) <> 0
               OR n.first_at > o.first_at OR n.last_at < o.last_at)
        """,
        params,
    )
    cursor.execute("ANALYZE st_pairs")
    old_columns = (
        "s.last_day AS o_last_day, s.last_day_p AS o_last_day_p, s.items_w AS o_items_w,"
        " s.items_p AS o_items_p, s.risk_w AS o_risk_w, s.risk_p AS o_risk_p,"
        " s.visits_lifetime AS o_visits_lifetime, s.account_pk IS NOT NULL AS existed"
    )
    # Most pairs: the old state raised by the rows of the entering and rewritten days;
    # visits move by those days' sessions minus the rewritten days' old ones.
    cursor.execute(
        f"""
        CREATE TEMP TABLE st_calc ON COMMIT DROP AS
        WITH rows AS (
            SELECT d.account_pk, d.user_pk, d.day, d.core_lo, d.core_hi, d.first_at,
                   d.last_at, d.visits
            FROM health_user_day d JOIN st_pairs USING (account_pk, user_pk)
            WHERE d.product_id = %(product)s AND d.day <= %(as_of)s
              AND (d.day > %(previous)s
                   OR d.day BETWEEN %(previous)s::date - 29 AND %(p_end)s
                   OR d.day = ANY(%(changed)s))
        ),
        raised AS (
            SELECT account_pk, user_pk, min(first_at) AS first_at, max(last_at) AS last_at,
                   max(day) AS last_day, max(day) FILTER (WHERE day <= %(p_end)s) AS last_day_p,
                   {item_days(k)} AS item_last,
                   {item_days(k, "day <= %(p_end)s")} AS item_last_p,
                   coalesce(sum(visits) FILTER (WHERE day > %(previous)s
                                                   OR day = ANY(%(changed)s)), 0) AS visits
            FROM rows GROUP BY account_pk, user_pk
        ),
        old_visits AS (
            SELECT account_pk, user_pk, sum(visits) AS visits FROM l1_old_user_day
            WHERE day <= %(previous)s GROUP BY account_pk, user_pk
        ),
        merged AS (
            SELECT p.account_pk, p.user_pk, {old_columns},
                   least(s.first_at, r.first_at) AS first_at,
                   greatest(s.last_at, r.last_at) AS last_at,
                   greatest(s.last_day, r.last_day) AS last_day,
                   greatest(s.last_day_p, r.last_day_p) AS last_day_p,
                   {items_merged(k, "s.item_last", "r.item_last")} AS item_last,
                   {items_merged(k, "s.item_last_p", "r.item_last_p")} AS item_last_p,
                   (coalesce(s.visits_lifetime, 0) + coalesce(r.visits, 0)
                    - coalesce(ov.visits, 0))::int AS visits_lifetime
            FROM st_pairs p
            LEFT JOIN health_pair_state s ON s.product_id = %(product)s
                AND s.account_pk = p.account_pk AND s.user_pk = p.user_pk
            LEFT JOIN raised r ON r.account_pk = p.account_pk AND r.user_pk = p.user_pk
            LEFT JOIN old_visits ov ON ov.account_pk = p.account_pk AND ov.user_pk = p.user_pk
            WHERE (p.account_pk, p.user_pk) NOT IN (SELECT account_pk, user_pk FROM st_shrunk)
        )
        SELECT merged.*, {_derived(k)} FROM merged
        """,
        params,
    )
    # Pairs that lost activity: recomputed from all their rows.
    cursor.execute(
        f"""
        INSERT INTO st_calc
        SELECT p.account_pk, p.user_pk, {old_columns},
               c.first_at, c.last_at, c.last_day, c.last_day_p, c.item_last, c.item_last_p,
               c.visits_lifetime, c.items_w, c.items_p, c.risk_w, c.risk_p
        FROM st_shrunk p
        LEFT JOIN health_pair_state s ON s.product_id = %(product)s
            AND s.account_pk = p.account_pk AND s.user_pk = p.user_pk
        LEFT JOIN ({_from_rows_sql(k, "AND (account_pk, user_pk) IN (SELECT * FROM st_shrunk)")}) c
            ON c.account_pk = p.account_pk AND c.user_pk = p.user_pk
        """,
        params,
    )
    _write(cursor, params)


def _write(cursor: Any, params: dict[str, Any]) -> None:
    columns = [column.strip() for column in _STATE_COLUMNS.split(",")]
    cursor.execute(
        f"""
        UPDATE health_pair_state s SET ({", ".join(columns)}) =
            ({", ".join(f"c.{column}" for column in columns)})
        FROM st_calc c
        WHERE s.product_id = %(product)s AND s.account_pk = c.account_pk
          AND s.user_pk = c.user_pk AND c.last_day IS NOT NULL
          AND ({", ".join(f"s.{column}" for column in columns)})
              IS DISTINCT FROM ({", ".join(f"c.{column}" for column in columns)})
        """,
        params,
    )
    cursor.execute(
        f"""
        INSERT INTO health_pair_state (organization_id, product_id, account_pk, user_pk,
                                       {_STATE_COLUMNS})
        SELECT %(org)s, %(product)s, account_pk, user_pk, {_STATE_COLUMNS} FROM st_calc
        WHERE NOT existed AND last_day IS NOT NULL
        """,
        params,
    )
    cursor.execute(
        """
        DELETE FROM health_pair_state s USING st_calc c
        WHERE s.product_id = %(product)s AND s.account_pk = c.account_pk
          AND s.user_pk = c.user_pk AND c.existed AND c.last_day IS NULL
        """,
        params,
    )


def pair_deltas_sql() -> str:
    """Per account, the affected pairs' new contributions (as of D) minus their old ones
    (as of D0, parameters prefixed o_), and their new first and last times."""
    new, old = contributions("", ""), contributions("o_", "o_")
    deltas = ", ".join(
        f"sum({as_count(new[field])} - {as_count(old[field])}) AS {field}" for field in PAIR_FIELDS
    )
    return f"""
    SELECT account_pk, {deltas}, min(first_at) AS first_at, max(last_at) AS last_at
    FROM st_calc GROUP BY account_pk
    """
