"""Layer 2: the window states of the newest as-of day D, rebuilt or moved forward.

- health_pair_state, per (account, user): the latest active day <= D and <= D-30, and per
  core item the latest day <= D and <= D-30 it was used. Whether a user is active in W, P,
  H or H', and which items they used there, are comparisons of these with D: moving D
  forward only raises them (from the rows of the days that enter), so a pair changes only
  when it has rows on a day entering or leaving a window.
- health_account_state, per account: the sums the KPIs are made of. Pair-derived counts
  move by the difference of the affected pairs' old and new contributions; day sums (DAU,
  WAU, visits, session time) by the days entering and leaving W and P.
- health_account_state also keeps, per account, the latest day in W each catalog feature
  and module was used (the explorer's "used X in the last 30 days" filters).

Rows rewritten by ingestion on days already counted (late events, late `group` calls)
move the sums by new minus old rows (kept in l1_old_user_day by layer 1); a pair that lost
activity there (its maxima may fall) is recomputed from all its rows.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db import connection

from health.engine.daily import DailyChanges
from health.engine.maps import CATALOG_KEYS_CTE, CoreMap
from health.engine.windows import WAU_SPAN, Windows
from health.models import HealthSettings
from vitals.tenancy.models import Product

# Beyond this many days forward the states are rebuilt rather than moved.
MAX_ADVANCE_DAYS = 60


def _bit(item: int) -> tuple[str, int]:
    """Column and signed 64-bit mask of core item `item` (1-based)."""
    column = "core_lo" if item <= 64 else "core_hi"
    bit = 1 << ((item - 1) % 64)
    return column, bit - (1 << 64) if bit >= 1 << 63 else bit


def _item_days(k: int, condition: str = "true") -> str:
    """Per core item, the latest day of the rows (meeting `condition`) that used it."""
    terms = [
        f"max(day) FILTER (WHERE {condition} AND ({column} & {mask}) <> 0)"
        for column, mask in (_bit(item) for item in range(1, k + 1))
    ]
    return f"ARRAY[{', '.join(terms)}]::date[]"


def _items_used(k: int, array: str, since: str) -> str:
    """How many entries of a per-item day array are on or after `since`."""
    if k == 0:
        return "0"
    return " + ".join(
        f"(CASE WHEN {array}[{item}] >= {since} THEN 1 ELSE 0 END)" for item in range(1, k + 1)
    )


def _params(product: Product, windows: Windows, settings: HealthSettings, k: int) -> dict[str, Any]:
    return {
        **windows.params(),
        "org": product.organization_id,
        "product": product.pk,
        "tz": product.organization.timezone,
        "k": k,
        "cfu_lower": settings.cfu_lower,
    }


# Per pair from its daily rows up to D. {pairs} narrows to some pairs.
def _pairs_insert_sql(k: int, pairs: str) -> str:
    return f"""
INSERT INTO health_pair_state (organization_id, product_id, account_pk, user_pk, first_at,
    last_at, last_day, last_day_p, item_last, item_last_p, visits_lifetime,
    items_w, items_p, risk_w, risk_p)
SELECT %(org)s, %(product)s, account_pk, user_pk, min(first_at), max(last_at),
       max(day), max(day) FILTER (WHERE day <= %(p_end)s),
       {_item_days(k)}, {_item_days(k, "day <= %(p_end)s")}, sum(visits),
       0, 0, false, false
FROM health_user_day d
WHERE product_id = %(product)s AND day <= %(as_of)s {pairs}
GROUP BY account_pk, user_pk
"""


def _derived_sql(k: int, pairs: str) -> str:
    """Items used in W and P, and the at-risk flags, of pairs as of D (SPEC section 5:
    user CFU = items used / k x 100; at risk when active in H (H') and below the CFU lower
    limit)."""
    items_w = _items_used(k, "item_last", "%(w_start)s")
    items_p = _items_used(k, "item_last_p", "%(p_start)s")
    return f"""
UPDATE health_pair_state SET
    items_w = {items_w},
    items_p = {items_p},
    risk_w = %(k)s > 0 AND last_day >= %(h_start)s
             AND ({items_w})::float8 / greatest(%(k)s, 1) * 100 < %(cfu_lower)s,
    risk_p = %(k)s > 0 AND coalesce(last_day_p >= %(hp_start)s, false)
             AND ({items_p})::float8 / greatest(%(k)s, 1) * 100 < %(cfu_lower)s
WHERE product_id = %(product)s {pairs}
"""


# What a pair adds to its account's counts as of the windows in the parameters.
_CONTRIBUTION = """
    count(*) FILTER (WHERE s.last_day >= %(w_start)s) AS mau_w,
    count(*) FILTER (WHERE s.last_day_p >= %(p_start)s) AS mau_p,
    coalesce(sum(s.items_w), 0) AS items_w,
    coalesce(sum(s.items_p) FILTER (WHERE s.last_day_p >= %(p_start)s), 0) AS items_p,
    count(*) FILTER (WHERE s.last_day >= %(h_start)s) AS history_w,
    count(*) FILTER (WHERE s.last_day_p >= %(hp_start)s) AS history_p,
    count(*) FILTER (WHERE s.risk_w) AS risk_w,
    count(*) FILTER (WHERE s.risk_p) AS risk_p,
    count(*) AS users_lifetime,
    coalesce(sum(s.visits_lifetime), 0) AS visits_lifetime,
    min(s.first_at) AS first_at, max(s.last_at) AS last_at
"""

_PAIR_FIELDS = (
    "mau_w",
    "mau_p",
    "items_w",
    "items_p",
    "history_w",
    "history_p",
    "risk_w",
    "risk_p",
    "users_lifetime",
    "visits_lifetime",
)
_DAY_FIELDS = ("dau_w", "dau_p", "wau_w", "wau_p", "visits_w", "visits_p", "seconds_w", "seconds_p")


def state_rebuild(
    *, product: Product, windows: Windows, settings: HealthSettings, core: CoreMap
) -> None:
    """Every state of the product from its daily rows (and W's events) as of D."""
    params = _params(product, windows, settings, core.k)
    with connection.cursor() as cursor:
        for table in ("health_pair_state", "health_account_state"):
            cursor.execute(f"DELETE FROM {table} WHERE product_id = %(product)s", params)
        cursor.execute(_pairs_insert_sql(core.k, ""), params)
        cursor.execute(_derived_sql(core.k, ""), params)
        cursor.execute(
            f"""
            INSERT INTO health_account_state (organization_id, product_id, account_pk,
                {", ".join(_PAIR_FIELDS)}, {", ".join(_DAY_FIELDS)}, first_at, last_at)
            WITH pairs AS (
                SELECT s.account_pk, {_CONTRIBUTION}
                FROM health_pair_state s WHERE s.product_id = %(product)s
                GROUP BY s.account_pk
            ),
            days AS ({_DAY_SUMS_REBUILD})
            SELECT %(org)s, %(product)s, p.account_pk, {", ".join(f"p.{f}" for f in _PAIR_FIELDS)},
                   {", ".join(f"coalesce(d.{f}, 0)" for f in _DAY_FIELDS)}, p.first_at, p.last_at
            FROM pairs p LEFT JOIN days d USING (account_pk)
            """,
            params,
        )
        _usage_rebuild(cursor, params)


# Day sums of W and P per account from the daily rows. WAU: each row covers the days from
# its own to the pair's next active day (at most 7 days), clipped to the window.
_DAY_SUMS_REBUILD = f"""
    WITH rows AS (
        SELECT account_pk, day, visits, session_seconds,
               lead(day) OVER (PARTITION BY account_pk, user_pk ORDER BY day) AS next_day
        FROM health_user_day
        WHERE product_id = %(product)s
          AND day BETWEEN %(p_start)s::date - {WAU_SPAN - 1} AND %(as_of)s
    )
    SELECT account_pk,
           count(*) FILTER (WHERE day >= %(w_start)s) AS dau_w,
           count(*) FILTER (WHERE day BETWEEN %(p_start)s AND %(p_end)s) AS dau_p,
           sum(greatest(0, least(coalesce(next_day - 1, day + {WAU_SPAN - 1}),
                                 day + {WAU_SPAN - 1}, %(w_end)s)
                           - greatest(day, %(w_start)s) + 1)) AS wau_w,
           sum(greatest(0, least(coalesce(next_day - 1, day + {WAU_SPAN - 1}),
                                 day + {WAU_SPAN - 1}, %(p_end)s)
                           - greatest(day, %(p_start)s) + 1)) AS wau_p,
           coalesce(sum(visits) FILTER (WHERE day >= %(w_start)s), 0) AS visits_w,
           coalesce(sum(visits) FILTER (WHERE day BETWEEN %(p_start)s AND %(p_end)s), 0)
               AS visits_p,
           coalesce(sum(session_seconds) FILTER (WHERE day >= %(w_start)s), 0) AS seconds_w,
           coalesce(sum(session_seconds) FILTER (WHERE day BETWEEN %(p_start)s AND %(p_end)s),
                    0) AS seconds_p
    FROM rows GROUP BY account_pk
"""


# The latest day in W each feature and module was used, per account, from the events per
# event key of the daily rows (SPEC 8's usage; the explorer's "used X" filters read it).
def _usage_sql(rows: str) -> str:
    return f"""
WITH {CATALOG_KEYS_CTE},
used AS (
    SELECT d.account_pk, u.event_key_id, max(d.day) AS day
    FROM health_user_day d CROSS JOIN LATERAL unnest(d.key_ids) AS u(event_key_id)
    WHERE d.product_id = %(product)s AND d.day BETWEEN %(w_start)s AND %(as_of)s {rows}
    GROUP BY 1, 2
),
features AS (
    SELECT account_pk, jsonb_object_agg(feature, day) AS last FROM (
        SELECT u.account_pk, fk.feature, max(u.day) AS day
        FROM used u JOIN feature_keys fk USING (event_key_id) GROUP BY 1, 2
    ) per_feature GROUP BY account_pk
),
modules AS (
    SELECT account_pk, jsonb_object_agg(module, day) AS last FROM (
        SELECT u.account_pk, mk.module, max(u.day) AS day
        FROM used u JOIN module_keys mk USING (event_key_id) GROUP BY 1, 2
    ) per_module GROUP BY account_pk
)
"""


def _usage_rebuild(cursor: Any, params: dict[str, Any], accounts: str | None = None) -> None:
    """Usage of the accounts (all, or those the query `accounts` returns) recounted from
    W's rows."""
    only = f"IN ({accounts})" if accounts else "IS NOT NULL"
    cursor.execute(
        _usage_sql(f"AND d.account_pk {only}")
        + f"""
        UPDATE health_account_state a
        SET feature_last = coalesce(f.last, '{{}}'), module_last = coalesce(m.last, '{{}}')
        FROM health_account_state t
        LEFT JOIN features f USING (account_pk)
        LEFT JOIN modules m USING (account_pk)
        WHERE t.product_id = %(product)s AND t.account_pk {only}
          AND a.product_id = t.product_id AND a.account_pk = t.account_pk
        """,
        params,
    )


def _usage_merge(cursor: Any, params: dict[str, Any], rows: str) -> None:
    """Raise the usage days with the rows that `rows` selects; drop days before W."""
    merge = """
        (SELECT coalesce(jsonb_object_agg(key, day), '{{}}') FROM (
            SELECT key, max(value) AS day
            FROM (SELECT * FROM jsonb_each_text(a.{column})
                  UNION ALL SELECT * FROM jsonb_each_text({new})) entries
            WHERE value >= %(w_start_text)s GROUP BY key) kept)
    """
    cursor.execute(
        _usage_sql(rows)
        + f"""
        UPDATE health_account_state a SET
            feature_last = {merge.format(column="feature_last", new="coalesce(f.last, '{}')")},
            module_last = {merge.format(column="module_last", new="coalesce(m.last, '{}')")}
        FROM features f FULL JOIN modules m USING (account_pk)
        WHERE a.product_id = %(product)s AND a.account_pk = coalesce(f.account_pk, m.account_pk)
        """,
        {**params, "w_start_text": params["w_start"].isoformat()},
    )


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def state_advance(
    *,
    product: Product,
    windows: Windows,
    previous: date,
    settings: HealthSettings,
    core: CoreMap,
    changes: DailyChanges,
) -> None:
    """Move the states from as-of `previous` (D0) to `windows.as_of` (D >= D0), given the
    daily rows layer 1 rewrote (`changes`, old rows in l1_old_user_day)."""
    old = Windows.for_day(previous, product.organization.timezone)
    params = _params(product, windows, settings, core.k)
    old_params = _params(product, old, settings, core.k)
    changed = [day for day in changes.days if day <= windows.as_of]
    moved = _moved_days(old, windows)
    params |= {"previous": previous, "changed": changed, "moved": moved}
    old_params |= {"changed": changed, "moved": moved}
    with connection.cursor() as cursor:
        # Pairs whose state or contribution can change: rows on a day entering or leaving
        # a window, or on a rewritten day (before or after).
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
        cursor.execute("ANALYZE st_pairs")
        # Pairs that lost activity on a day already counted: their maxima may fall.
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
        cursor.execute(_contributions_sql("st_old"), old_params)
        _pairs_move(cursor, params, core.k)
        cursor.execute(_contributions_sql("st_new"), params)
        _accounts_move(cursor, params)
    _day_sums_move(params, old, windows, changed)
    with connection.cursor() as cursor:
        _usage_move(cursor, params)


def _moved_days(old: Windows, new: Windows) -> list[date]:
    """Days entering or leaving W, P, H, H' or the range up to D-30, from D0 to D."""
    days: set[date] = set()
    for lag in (0, 30, 60, 180, 210):
        days.update(_days(old.as_of - timedelta(days=lag - 1), new.as_of - timedelta(days=lag)))
    return sorted(days)


def _contributions_sql(table: str) -> str:
    return f"""
CREATE TEMP TABLE {table} ON COMMIT DROP AS
SELECT s.account_pk, {_CONTRIBUTION}
FROM health_pair_state s JOIN st_pairs USING (account_pk, user_pk)
WHERE s.product_id = %(product)s
GROUP BY s.account_pk
"""


def _pairs_move(cursor: Any, params: dict[str, Any], k: int) -> None:
    shrunk = "AND (account_pk, user_pk) IN (SELECT account_pk, user_pk FROM st_shrunk)"
    cursor.execute(f"DELETE FROM health_pair_state WHERE product_id = %(product)s {shrunk}", params)
    cursor.execute(_pairs_insert_sql(k, shrunk), params)
    # The others take the maxima of their rows on the days entering D (and D-30), and of
    # rewritten days; visits move by the entering days plus new minus old rewritten rows.
    cursor.execute(
        f"""
        INSERT INTO health_pair_state (organization_id, product_id, account_pk, user_pk,
            first_at, last_at, last_day, last_day_p, item_last, item_last_p, visits_lifetime,
            items_w, items_p, risk_w, risk_p)
        SELECT %(org)s, %(product)s, account_pk, user_pk, min(first_at), max(last_at),
               max(day), max(day) FILTER (WHERE day <= %(p_end)s),
               {_item_days(k)}, {_item_days(k, "day <= %(p_end)s")},
               coalesce(sum(visits) FILTER (WHERE day > %(previous)s
                                               OR day = ANY(%(changed)s)), 0)
                 - coalesce(min(old.old_visits), 0),
               0, 0, false, false
        FROM health_user_day d
        JOIN st_pairs USING (account_pk, user_pk)
        LEFT JOIN (
            SELECT account_pk, user_pk, sum(visits) AS old_visits FROM l1_old_user_day
            WHERE day <= %(previous)s GROUP BY 1, 2
        ) old USING (account_pk, user_pk)
        WHERE d.product_id = %(product)s AND d.day <= %(as_of)s
          AND (d.day > %(previous)s OR d.day BETWEEN %(previous)s::date - 29 AND %(p_end)s
               OR d.day = ANY(%(changed)s))
          AND (account_pk, user_pk) NOT IN (SELECT account_pk, user_pk FROM st_shrunk)
        GROUP BY account_pk, user_pk
        ON CONFLICT (product_id, account_pk, user_pk) DO UPDATE SET
            first_at = least(health_pair_state.first_at, EXCLUDED.first_at),
            last_at = greatest(health_pair_state.last_at, EXCLUDED.last_at),
            last_day = greatest(health_pair_state.last_day, EXCLUDED.last_day),
            last_day_p = greatest(health_pair_state.last_day_p, EXCLUDED.last_day_p),
            item_last = ARRAY(
                SELECT greatest(a, b) FROM unnest(health_pair_state.item_last, EXCLUDED.item_last)
                    WITH ORDINALITY AS t(a, b, n) ORDER BY n),
            item_last_p = ARRAY(
                SELECT greatest(a, b)
                FROM unnest(health_pair_state.item_last_p, EXCLUDED.item_last_p)
                    WITH ORDINALITY AS t(a, b, n) ORDER BY n),
            visits_lifetime = health_pair_state.visits_lifetime + EXCLUDED.visits_lifetime
        """,
        params,
    )
    cursor.execute(
        _derived_sql(k, "AND (account_pk, user_pk) IN (SELECT account_pk, user_pk FROM st_pairs)"),
        params,
    )


def _accounts_move(cursor: Any, params: dict[str, Any]) -> None:
    deltas = ", ".join(f"coalesce(n.{field}, 0) - coalesce(o.{field}, 0)" for field in _PAIR_FIELDS)
    updates = ", ".join(
        f"{field} = health_account_state.{field} + EXCLUDED.{field}" for field in _PAIR_FIELDS
    )
    cursor.execute(
        f"""
        INSERT INTO health_account_state (organization_id, product_id, account_pk,
            {", ".join(_PAIR_FIELDS)}, {", ".join(_DAY_FIELDS)}, first_at, last_at)
        SELECT %(org)s, %(product)s, account_pk, {deltas},
               {", ".join("0" for _ in _DAY_FIELDS)}, n.first_at, n.last_at
        FROM st_new n FULL JOIN st_old o USING (account_pk)
        ON CONFLICT (product_id, account_pk) DO UPDATE SET {updates},
            first_at = least(health_account_state.first_at, EXCLUDED.first_at),
            last_at = greatest(health_account_state.last_at, EXCLUDED.last_at)
        """,
        params,
    )
    # Accounts that lost activity: their first and last times come from their pairs.
    cursor.execute(
        """
        UPDATE health_account_state a SET first_at = x.first_at, last_at = x.last_at
        FROM (
            SELECT t.account_pk, min(s.first_at) AS first_at, max(s.last_at) AS last_at
            FROM (SELECT DISTINCT account_pk FROM st_shrunk) t
            LEFT JOIN health_pair_state s
                ON s.product_id = %(product)s AND s.account_pk = t.account_pk
            GROUP BY t.account_pk
        ) x
        WHERE a.product_id = %(product)s AND a.account_pk = x.account_pk
        """,
        params,
    )
    cursor.execute("DROP TABLE st_old, st_new, st_shrunk, st_pairs")


def _day_sums_move(params: dict[str, Any], old: Windows, new: Windows, changed: list[date]) -> None:
    """DAU, WAU, visits and session time of W and P: add the days that enter, take the
    days that leave, and replace rewritten days (and the WAU of the 6 days after them)."""
    w_old, w_new = set(_days(old.w_start, old.w_end)), set(_days(new.w_start, new.w_end))
    p_old, p_new = set(_days(old.p_start, old.p_end)), set(_days(new.p_start, new.p_end))
    reach = w_old | w_new | p_old | p_new
    rewritten = {day + timedelta(days=n) for day in changed for n in range(WAU_SPAN)}
    days = sorted(((w_old ^ w_new) | (p_old ^ p_new) | rewritten) & reach)
    if not days:
        return
    flags = {
        "s_days": days,
        "w_new": [day in w_new for day in days],
        "w_old": [day in w_old for day in days],
        "p_new": [day in p_new for day in days],
        "p_old": [day in p_old for day in days],
        "lo": days[0] - timedelta(days=WAU_SPAN - 1),
        "hi": days[-1],
    }
    sums = []
    for value in ("dau", "wau", "visits", "seconds"):
        for window in ("w", "p"):
            sums.append(
                f"sum(CASE WHEN side = 'new' AND {window}_new THEN {value}"
                f" WHEN side = 'old' AND {window}_old THEN -{value} ELSE 0 END)"
                f" AS {value}_{window}"
            )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH days AS (
                SELECT * FROM unnest(%(s_days)s::date[], %(w_new)s::bool[], %(w_old)s::bool[],
                                     %(p_new)s::bool[], %(p_old)s::bool[])
                    AS t(day, w_new, w_old, p_new, p_old)
            ),
            new_rows AS (
                SELECT account_pk, user_pk, day, visits, session_seconds FROM health_user_day
                WHERE product_id = %(product)s AND day BETWEEN %(lo)s AND %(hi)s
            ),
            old_rows AS (
                SELECT account_pk, user_pk, day, visits, session_seconds FROM health_user_day
                WHERE product_id = %(product)s AND day BETWEEN %(lo)s AND %(hi)s
                  AND NOT day = ANY(%(changed)s)
                UNION ALL
                SELECT account_pk, user_pk, day, visits, session_seconds FROM l1_old_user_day
                WHERE day BETWEEN %(lo)s AND %(hi)s
            ),
            per_day AS (
                SELECT side, d.day, r.account_pk,
                       count(*) FILTER (WHERE r.day = d.day) AS dau,
                       count(DISTINCT r.user_pk) AS wau,
                       coalesce(sum(r.visits) FILTER (WHERE r.day = d.day), 0) AS visits,
                       coalesce(sum(r.session_seconds) FILTER (WHERE r.day = d.day), 0)
                           AS seconds
                FROM days d
                JOIN (SELECT 'new' AS side, * FROM new_rows
                      UNION ALL SELECT 'old', * FROM old_rows) r
                    ON r.day BETWEEN d.day - {WAU_SPAN - 1} AND d.day
                   AND CASE r.side WHEN 'new' THEN d.w_new OR d.p_new
                                   ELSE d.w_old OR d.p_old END
                GROUP BY side, d.day, r.account_pk
            ),
            delta AS (
                SELECT account_pk, {", ".join(sums)}
                FROM per_day JOIN days USING (day)
                GROUP BY account_pk
            )
            INSERT INTO health_account_state AS a (organization_id, product_id, account_pk,
                {", ".join(_PAIR_FIELDS)}, {", ".join(_DAY_FIELDS)}, first_at, last_at)
            SELECT %(org)s, %(product)s, account_pk, {", ".join("0" for _ in _PAIR_FIELDS)},
                   {", ".join(_DAY_FIELDS)}, NULL, NULL
            FROM delta
            ON CONFLICT (product_id, account_pk) DO UPDATE SET
                {", ".join(f"{f} = a.{f} + EXCLUDED.{f}" for f in _DAY_FIELDS)}
            """,
            {**params, **flags},
        )


def _usage_move(cursor: Any, params: dict[str, Any]) -> None:
    """Raise usage days with the rows of the entering and rewritten days; accounts whose
    rows already counted in W were rewritten may have lost usage, so they are recounted."""
    recount = (
        "SELECT account_pk FROM l1_old_user_day WHERE day BETWEEN %(w_start)s AND %(previous)s"
    )
    entering = "AND (d.day > %(previous)s OR d.day = ANY(%(changed)s))"
    _usage_merge(cursor, params, f"{entering} AND d.account_pk NOT IN ({recount})")
    _usage_rebuild(cursor, params, recount)
