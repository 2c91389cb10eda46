"""Layer 2: the window states of the newest as-of day D, rebuilt or moved forward.

- pairs.py: health_pair_state, per (account, user);
- days.py: health_account_day, per account and day of W and P;
- usage.py: the features and modules each account used in W;
- here: health_account_state, per account, the sums every KPI of W and P is made of
  (evaluate.py turns them into KPIs). Rebuilt from the daily rows, or moved by the
  affected pairs' new minus old contributions and by the days that enter and leave W and P.

Rows that layer 1 rewrote on days already counted (late events, late `group` calls) are in
l1_old_user_day: the states move by new minus old rows, as for any other day.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db import connection

from health.engine.daily import DailyChanges
from health.engine.maps import CoreMap
from health.engine.state.days import day_sums_move, day_sums_rebuild
from health.engine.state.pairs import pair_deltas_sql, pairs_move, pairs_rebuild
from health.engine.state.sql import (
    DAY_FIELDS,
    PAIR_FIELDS,
    as_count,
    at_risk,
    contributions,
    state_params,
)
from health.engine.state.usage import usage_move, usage_rebuild
from health.engine.windows import Windows
from health.models import HealthSettings
from vitals.tenancy.models import Product

__all__ = ["MAX_ADVANCE_DAYS", "risk_refresh", "state_advance", "state_rebuild"]

# Beyond this many days forward the states are rebuilt rather than moved.
MAX_ADVANCE_DAYS = 60


def state_rebuild(
    *,
    product: Product,
    windows: Windows,
    settings: HealthSettings,
    core: CoreMap,
    usage: tuple[list[str], list[str]],
) -> None:
    """Every state of the product from its daily rows as of D; `usage` is the catalog's
    feature keys and module paths the usage arrays are by."""
    params = {
        **state_params(product, windows, settings, core.k),
        "usage_features": usage[0],
        "usage_modules": usage[1],
    }
    contribution = contributions("s.", "")
    sums = ", ".join(f"sum({as_count(contribution[f])}) AS {f}" for f in PAIR_FIELDS)
    with connection.cursor() as cursor:
        pairs_rebuild(cursor, params, core.k)
        cursor.execute("DELETE FROM health_account_state WHERE product_id = %(product)s", params)
        cursor.execute(
            f"""
            INSERT INTO health_account_state (organization_id, product_id, account_pk,
                {", ".join(PAIR_FIELDS)}, {", ".join(DAY_FIELDS)}, first_at, last_at)
            SELECT %(org)s, %(product)s, s.account_pk, {sums},
                   {", ".join("0" for _ in DAY_FIELDS)}, min(s.first_at), max(s.last_at)
            FROM health_pair_state s WHERE s.product_id = %(product)s
            GROUP BY s.account_pk
            ORDER BY s.account_pk
            """,
            params,
        )
        day_sums_rebuild(cursor, params)
        usage_rebuild(cursor, params)


def state_advance(
    *,
    product: Product,
    windows: Windows,
    previous: date,
    settings: HealthSettings,
    core: CoreMap,
    changes: DailyChanges,
    usage: tuple[list[str], list[str]],
) -> None:
    """Move the states from as-of `previous` (D0) to `windows.as_of` (D >= D0), given the
    daily rows layer 1 rewrote (`changes`, old rows in l1_old_user_day)."""
    old = Windows.for_day(previous, product.organization.timezone)
    changed = [day for day in changes.days if day <= windows.as_of]
    params = {
        **state_params(product, windows, settings, core.k),
        **state_params(product, old, settings, core.k, prefix="o_"),
        "previous": previous,
        "changed": changed,
        "raising": _moved_days(old, windows, lags=(0, 30)),
        "leaving_p": _moved_days(old, windows, lags=(60,)),
        "leaving_h": _moved_days(old, windows, lags=(180,)),
        "leaving_hp": _moved_days(old, windows, lags=(210,)),
        "usage_features": usage[0],
        "usage_modules": usage[1],
    }
    with connection.cursor() as cursor:
        pairs_move(cursor, params, core.k)
        _accounts_move(cursor, params)
        day_sums_move(cursor, params, old, windows, changed)
        usage_move(cursor, params)
        cursor.execute("DROP TABLE st_calc, st_shrunk, st_pairs")


def risk_refresh(
    *, product: Product, windows: Windows, settings: HealthSettings, core: CoreMap
) -> None:
    """Every pair's at-risk flags and their sums per account under the settings' CFU lower
    limit: the flags depend only on the pairs' stored items used and latest active days,
    so a new limit needs no daily rows (health_pair_state as of D)."""
    params = state_params(product, windows, settings, core.k)
    risk_w = at_risk("items_w", "last_day >= %(h_start)s")
    risk_p = at_risk("items_p", "last_day_p >= %(hp_start)s")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE health_pair_state SET risk_w = {risk_w}, risk_p = {risk_p}
            WHERE product_id = %(product)s
              AND (risk_w, risk_p) IS DISTINCT FROM ({risk_w}, {risk_p})
            """,
            params,
        )
        cursor.execute(
            """
            UPDATE health_account_state a SET risk_w = x.risk_w, risk_p = x.risk_p
            FROM (
                SELECT account_pk, count(*) FILTER (WHERE risk_w) AS risk_w,
                       count(*) FILTER (WHERE risk_p) AS risk_p
                FROM health_pair_state WHERE product_id = %(product)s
                GROUP BY account_pk
            ) x
            WHERE a.product_id = %(product)s AND a.account_pk = x.account_pk
              AND (a.risk_w, a.risk_p) IS DISTINCT FROM (x.risk_w, x.risk_p)
            """,
            params,
        )


def _moved_days(old: Windows, new: Windows, *, lags: tuple[int, ...]) -> list[date]:
    """The days (D0-lag, D-lag] for each lag: from D0 to D, lag 0 enters W and H, 30 leaves
    W and enters P, H' and the range up to D-30, 60 leaves P, 180 H, 210 H'."""
    days: set[date] = set()
    for lag in lags:
        first = old.as_of - timedelta(days=lag - 1)
        days.update(first + timedelta(days=n) for n in range((new.as_of - old.as_of).days))
    return sorted(days)


def _accounts_move(cursor: Any, params: dict[str, Any]) -> None:
    """The affected pairs' deltas into their accounts; accounts that lost activity take
    their first and last times from their pairs."""
    updates = ", ".join(
        f"{field} = health_account_state.{field} + EXCLUDED.{field}" for field in PAIR_FIELDS
    )
    cursor.execute(
        f"""
        INSERT INTO health_account_state (organization_id, product_id, account_pk,
            {", ".join(PAIR_FIELDS)}, {", ".join(DAY_FIELDS)}, first_at, last_at)
        SELECT %(org)s, %(product)s, account_pk, {", ".join(PAIR_FIELDS)},
               {", ".join("0" for _ in DAY_FIELDS)}, first_at, last_at
        FROM ({pair_deltas_sql()}) deltas
        ON CONFLICT (product_id, account_pk) DO UPDATE SET {updates},
            first_at = least(health_account_state.first_at, EXCLUDED.first_at),
            last_at = greatest(health_account_state.last_at, EXCLUDED.last_at)
        """,
        params,
    )
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
