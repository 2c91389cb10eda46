"""Per account, the latest day in W each catalog feature and module was used (SPEC 8's
usage; the explorer's "used X in the last 30 days" filters read it), from the events per
event key of the daily rows. Entries older than W may linger: they mean "not in W"."""

from __future__ import annotations

from typing import Any

from health.engine.maps import CATALOG_KEYS_CTE


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


def usage_rebuild(cursor: Any, params: dict[str, Any], accounts: str | None = None) -> None:
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


def usage_move(cursor: Any, params: dict[str, Any]) -> None:
    """Raise usage days with the rows of the entering and rewritten days; accounts whose
    rows already counted in W were rewritten may have lost usage, so they are recounted."""
    recount = (
        "SELECT account_pk FROM l1_old_user_day WHERE day BETWEEN %(w_start)s AND %(previous)s"
    )
    entering = "AND (d.day > %(previous)s OR d.day = ANY(%(changed)s))"
    _usage_merge(cursor, params, f"{entering} AND d.account_pk NOT IN ({recount})")
    usage_rebuild(cursor, params, recount)
