"""Per account, the latest day in W each catalog feature and module was used (SPEC 8's
usage; the explorer's "used X in the last 30 days" filters read it), from the events per
event key of the daily rows. Arrays by position in RollupState.usage_features and
usage_modules (the catalog when the states were built: a catalog change rebuilds them).
Days before W may linger: they mean "not in W"."""

from __future__ import annotations

from typing import Any

from health.engine.maps import CATALOG_KEYS_CTE


def _latest_days(count: int) -> str:
    """The latest `day` per position 1..count of the grouped rows, as an array."""
    terms = [f"max(day) FILTER (WHERE pos = {n})" for n in range(1, count + 1)]
    return f"ARRAY[{', '.join(terms)}]::date[]" if terms else "'{}'::date[]"


def _merged(count: int, old: str, new: str) -> str:
    terms = [f"greatest({old}[{n}], {new}[{n}])" for n in range(1, count + 1)]
    return f"ARRAY[{', '.join(terms)}]::date[]" if terms else "'{}'::date[]"


def _usage_sql(rows: str, features: int, modules: int) -> str:
    """CTEs features(account_pk, last) and modules(account_pk, last) from the daily rows
    of W that `rows` selects."""
    return f"""
WITH {CATALOG_KEYS_CTE},
used AS (
    SELECT d.account_pk, u.event_key_id, max(d.day) AS day
    FROM health_user_day d CROSS JOIN LATERAL unnest(d.key_ids) AS u(event_key_id)
    WHERE d.product_id = %(product)s AND d.day BETWEEN %(w_start)s AND %(as_of)s {rows}
    GROUP BY 1, 2
),
features AS (
    SELECT u.account_pk, {_latest_days(features)} AS last
    FROM used u
    JOIN feature_keys fk USING (event_key_id)
    JOIN unnest(%(usage_features)s::text[]) WITH ORDINALITY AS p(feature, pos) USING (feature)
    GROUP BY u.account_pk
),
modules AS (
    SELECT u.account_pk, {_latest_days(modules)} AS last
    FROM used u
    JOIN module_keys mk USING (event_key_id)
    JOIN unnest(%(usage_modules)s::text[]) WITH ORDINALITY AS p(module, pos) USING (module)
    GROUP BY u.account_pk
)
"""


def _counts(params: dict[str, Any]) -> tuple[int, int]:
    return len(params["usage_features"]), len(params["usage_modules"])


def usage_rebuild(cursor: Any, params: dict[str, Any], accounts: str | None = None) -> None:
    """Usage of the accounts (all, or those the query `accounts` returns) recounted from
    W's rows."""
    only = f"IN ({accounts})" if accounts else "IS NOT NULL"
    cursor.execute(
        _usage_sql(f"AND d.account_pk {only}", *_counts(params))
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


def usage_move(cursor: Any, params: dict[str, Any]) -> None:
    """Raise usage days with the rows of the entering and rewritten days; accounts whose
    rows already counted in W were rewritten may have lost usage, so they are recounted."""
    recount = (
        "SELECT account_pk FROM l1_old_user_day WHERE day BETWEEN %(w_start)s AND %(previous)s"
    )
    entering = "AND (d.day > %(previous)s OR d.day = ANY(%(changed)s))"
    features, modules = _counts(params)
    cursor.execute(
        _usage_sql(f"{entering} AND d.account_pk NOT IN ({recount})", features, modules)
        + f"""
        UPDATE health_account_state a SET
            feature_last = {_merged(features, "a.feature_last", "f.last")},
            module_last = {_merged(modules, "a.module_last", "m.last")}
        FROM features f FULL JOIN modules m USING (account_pk)
        WHERE a.product_id = %(product)s AND a.account_pk = coalesce(f.account_pk, m.account_pk)
        """,
        params,
    )
    usage_rebuild(cursor, params, recount)
