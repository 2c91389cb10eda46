"""SPEC section 8: the drill-down lists of accounts as of a day, read from the rollups.

One statement for the users and one for the features and modules, whatever the number of
accounts: the account page asks for one, `export_health` for all of them. The usage of
features and modules comes from the per-key event counts of the daily rows of W.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from django.db import connection

from health.engine.maps import CATALOG_KEYS_CTE
from health.engine.windows import Windows, day_start
from health.models import RollupState
from vitals.tenancy.models import Product

# Per (account, user): core items, core events and visits in W, lifetime visits, and
# whether active in the 180-day history; from every daily row up to D ...
_USAGE_FROM_DAYS = """
    SELECT account_pk, user_pk,
           coalesce(bit_or(core_lo) FILTER (WHERE day >= %(w_start)s), 0) AS lo,
           coalesce(bit_or(core_hi) FILTER (WHERE day >= %(w_start)s), 0) AS hi,
           coalesce(sum(core_events) FILTER (WHERE day >= %(w_start)s), 0) AS core_events,
           coalesce(sum(visits) FILTER (WHERE day >= %(w_start)s), 0) AS visits,
           sum(visits) AS visits_lifetime,
           bool_or(day >= %(h_start)s) AS in_history
    FROM health_user_day
    WHERE product_id = %(product)s AND day <= %(as_of)s {accounts}
    GROUP BY account_pk, user_pk
"""
# ... or, when the engine's pair state is of D, from the state (lifetime visits, last
# active day) and W's daily rows only: a large account's years of rows are not re-read.
_USAGE_FROM_STATE = """
    SELECT p.account_pk, p.user_pk, coalesce(w.lo, 0) AS lo, coalesce(w.hi, 0) AS hi,
           coalesce(w.core_events, 0) AS core_events, coalesce(w.visits, 0) AS visits,
           p.visits_lifetime, true AS in_history
    FROM health_pair_state p
    LEFT JOIN (
        SELECT account_pk, user_pk, bit_or(core_lo) AS lo, bit_or(core_hi) AS hi,
               sum(core_events) AS core_events, sum(visits) AS visits
        FROM health_user_day
        WHERE product_id = %(product)s AND day BETWEEN %(w_start)s AND %(as_of)s {accounts}
        GROUP BY account_pk, user_pk
    ) w USING (account_pk, user_pk)
    WHERE p.product_id = %(product)s AND p.last_day >= %(h_start)s {pair_accounts}
"""
_USERS_SQL = """
WITH usage AS ({usage}),
current_account AS (
    -- a user's current account: the latest membership up to the end of D
    SELECT DISTINCT ON (m.user_id) m.user_id AS user_pk, m.account_id AS account_pk
    FROM ingestion_accountmembership m
    WHERE m.organization_id = %(org)s AND m.event_time < %(cutoff)s
      AND m.user_id IN (SELECT user_pk FROM usage WHERE in_history)
    ORDER BY m.user_id, m.event_time DESC, m.event_id DESC
),
members AS (
    SELECT u.account_pk, e.external_id,
           bit_count(u.lo::bit(64)) + bit_count(u.hi::bit(64)) AS core_items,
           u.core_events, u.visits, u.visits_lifetime
    FROM usage u
    JOIN current_account c USING (user_pk, account_pk)
    JOIN ingestion_enduser e ON e.id = u.user_pk
    WHERE u.in_history
)
SELECT account_pk,
       jsonb_agg(jsonb_build_object(
           'user_id', external_id, 'core_items', core_items, 'core_events', core_events,
           'visits', visits, 'visits_lifetime', visits_lifetime)
           ORDER BY core_items DESC, core_events DESC, external_id),
       jsonb_agg(external_id ORDER BY visits DESC, external_id)
FROM members GROUP BY account_pk
"""

# Events per (account, event key) in W, from the daily rows' per-key counts; counted from
# the events themselves when those rows do not reach back to W's start (a day older
# than the newest computation's window).
_KEY_EVENTS_ROLLUP = """
    SELECT d.account_pk, u.event_key_id, sum(u.events) AS events
    FROM health_user_day d
    CROSS JOIN LATERAL unnest(d.key_ids, d.key_events) AS u(event_key_id, events)
    WHERE d.product_id = %(product)s AND d.day BETWEEN %(w_start)s AND %(as_of)s
      AND d.account_pk = ANY(%(account_pks)s)
    GROUP BY 1, 2
"""
_KEY_EVENTS_RAW = """
    SELECT account_pk, event_key_id, count(*) AS events FROM ingestion_event
    WHERE product_id = %(product)s AND type IN (1, 2, 3) AND user_pk IS NOT NULL
      AND event_key_id IS NOT NULL AND event_time >= %(w_from)s AND event_time < %(cutoff)s
      AND account_pk = ANY(%(account_pks)s)
    GROUP BY account_pk, event_key_id
"""

# Features count every event with a matching rule; a module counts an event once however
# many of its (sub-module) features match it.
_USAGE_SQL = f"""
WITH {{key_events}},
{CATALOG_KEYS_CTE},
targets AS (SELECT unnest(%(account_pks)s::bigint[]) AS account_pk),
feature_counts AS (
    SELECT t.account_pk, f.key, coalesce(sum(ke.events), 0) AS events
    FROM targets t
    CROSS JOIN health_feature f
    LEFT JOIN feature_keys fk ON fk.feature = f.key
    LEFT JOIN key_events ke ON ke.account_pk = t.account_pk AND ke.event_key_id = fk.event_key_id
    WHERE f.product_id = %(product)s
    GROUP BY t.account_pk, f.key
),
module_counts AS (
    SELECT t.account_pk, m.path, coalesce(sum(ke.events), 0) AS events
    FROM targets t
    CROSS JOIN health_module m
    LEFT JOIN module_keys mk ON mk.module = m.path
    LEFT JOIN key_events ke ON ke.account_pk = t.account_pk AND ke.event_key_id = mk.event_key_id
    WHERE m.product_id = %(product)s
    GROUP BY t.account_pk, m.path
),
feature_lists AS (
    SELECT account_pk,
           jsonb_agg(jsonb_build_array(key, events) ORDER BY events DESC, key) AS listed,
           jsonb_agg(key ORDER BY key) FILTER (WHERE events = 0) AS zero
    FROM feature_counts GROUP BY account_pk
),
module_lists AS (
    SELECT account_pk,
           jsonb_agg(jsonb_build_array(path, events) ORDER BY events DESC, path) AS listed,
           jsonb_agg(path ORDER BY path) FILTER (WHERE events = 0) AS zero
    FROM module_counts GROUP BY account_pk
)
SELECT t.account_pk, coalesce(f.listed, '[]'), coalesce(f.zero, '[]'),
       coalesce(m.listed, '[]'), coalesce(m.zero, '[]')
FROM targets t
LEFT JOIN feature_lists f USING (account_pk)
LEFT JOIN module_lists m USING (account_pk)
"""


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def drilldown_lists(
    *, product: Product, as_of: date, account_pks: list[int], from_days: bool = False
) -> dict[int, dict[str, Any]]:
    """Per account: its users ranked by core items used and by visits, features and
    modules with their events in W, and the zero-usage ones (SPEC section 8). The users
    come from the engine's pair state when it is of `as_of` (unless `from_days`), else
    from every daily row up to `as_of`: the same lists (tests/health/test_drilldown_sources.py)."""
    windows = Windows.for_day(as_of, product.organization.timezone)
    params: dict[str, Any] = {
        **windows.params(),
        "org": product.organization_id,
        "product": product.pk,
        "account_pks": account_pks,
        "w_from": day_start(windows.w_start, product.organization.timezone),
    }
    lists: dict[int, dict[str, Any]] = {
        pk: {
            "users": [],
            "top_users_by_core": [],
            "top_users_by_visits": [],
        }
        for pk in account_pks
    }
    keys_from, state_as_of = (
        RollupState.objects.filter(product=product).values_list("keys_from", "state_as_of").first()
    ) or (None, None)
    covered = keys_from is not None and keys_from <= windows.w_start
    key_events = f"key_events AS ({_KEY_EVENTS_ROLLUP if covered else _KEY_EVENTS_RAW})"
    accounts = "AND account_pk = ANY(%(account_pks)s)"
    if state_as_of == as_of and not from_days:
        usage = _USAGE_FROM_STATE.format(
            accounts=accounts, pair_accounts="AND p.account_pk = ANY(%(account_pks)s)"
        )
    else:
        usage = _USAGE_FROM_DAYS.format(accounts=accounts)
    with connection.cursor() as cursor:
        cursor.execute(_USERS_SQL.format(usage=usage), params)
        for account_pk, by_core, by_visits in cursor.fetchall():
            users = _json(by_core)
            lists[account_pk]["users"] = users
            lists[account_pk]["top_users_by_core"] = [row["user_id"] for row in users]
            lists[account_pk]["top_users_by_visits"] = _json(by_visits)
        cursor.execute(_USAGE_SQL.format(key_events=key_events), params)
        for account_pk, features, zero_features, modules, zero_modules in cursor.fetchall():
            lists[account_pk] |= {
                "features": _json(features),
                "modules": _json(modules),
                "zero_usage_features": _json(zero_features),
                "zero_usage_modules": _json(zero_modules),
            }
    return lists
