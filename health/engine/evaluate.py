"""Layer 3: the KPIs of every account (SPEC sections 5-6) and the portfolio (section 7)
for D, from the window states. One statement each; the history keeps a row per account
per as-of day."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from django.db import connection

from health.engine.windows import W_DAYS, Windows
from health.models import HealthSettings, PortfolioHealth
from vitals.tenancy.models import Product


def _params(product: Product, windows: Windows, settings: HealthSettings, k: int) -> dict[str, Any]:
    return {
        **windows.params(),
        "org": product.organization_id,
        "product": product.pk,
        "tz": product.organization.timezone,
        "k": k,
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


# SPEC section 3: an account's created date is its createdAt trait, else the day of the
# first message that names it. Over ingestion_account a.
_CREATED_DATE = """COALESCE(vitals_trait_day(a.traits->>'createdAt', %(tz)s),
                            (a.first_seen_at AT TIME ZONE %(tz)s)::date)"""


def _window_metrics(x: str) -> str:
    """The KPIs of window x ('w' or 'p') from the account state's sums."""
    return f"""
        coalesce(s.mau_{x}, 0) AS mau_{x},
        coalesce(s.dau_{x}, 0) / {W_DAYS}.0::float8 AS avg_dau_{x},
        coalesce(s.wau_{x}, 0) / {W_DAYS}.0::float8 AS avg_wau_{x},
        CASE WHEN coalesce(s.mau_{x}, 0) > 0 THEN
            (CASE WHEN %(wau)s THEN s.wau_{x} ELSE s.dau_{x} END) / {W_DAYS}.0::float8
            / s.mau_{x} * 100 END AS stickiness_{x},
        CASE WHEN coalesce(s.mau_{x}, 0) > 0 AND %(k)s > 0
            THEN s.items_{x}::float8 / s.mau_{x} / %(k)s * 100 END AS cfu_{x},
        CASE WHEN coalesce(s.history_{x}, 0) > 0
            THEN coalesce(s.mau_{x}, 0)::float8 / s.history_{x} * 100 END AS coverage_{x},
        CASE WHEN %(k)s > 0 THEN coalesce(s.risk_{x}, 0) ELSE 0 END AS risk_{x},
        coalesce(s.visits_{x}, 0) AS visits_{x},
        CASE WHEN coalesce(s.visits_{x}, 0) > 0
            THEN s.seconds_{x} / s.visits_{x} END AS seconds_{x}
    """


def _health(x: str) -> str:
    return f"""
        CASE WHEN mau_{x} = 0 THEN 'Inactive'
             WHEN score_{x} IS NULL THEN 'Not configured'
             WHEN score_{x} < %(score_lower)s THEN 'At Risk'
             WHEN score_{x} < %(score_upper)s THEN 'Neutral'
             ELSE 'Healthy' END
    """


# Last Seen spans the organization's products: per account, the latest activity up to D
# in the products of %(other_products)s, from their daily rollups.
_OTHER_PRODUCTS_LAST_AT = """
    SELECT account_pk, max(last_at) AS last_at FROM health_user_day
    WHERE product_id = ANY(%(other_products)s) AND day <= %(as_of)s
    GROUP BY account_pk
"""

_ACCOUNT_HEALTH_SQL = f"""
INSERT INTO health_accounthealth (
    organization_id, product_id, as_of, account_id,
    active_users, active_users_prev, avg_dau, avg_dau_prev, avg_wau, avg_wau_prev,
    stickiness, stickiness_prev, core_feature_usage, core_feature_usage_prev,
    active_user_coverage, active_user_coverage_prev, product_score, product_score_prev,
    health, health_prev, cfu_band, coverage_band, stickiness_band,
    users_at_risk, users_at_risk_prev, visits, visits_prev,
    avg_session_seconds, avg_session_seconds_prev, users_lifetime, visits_lifetime,
    product_first_seen, product_last_seen, last_seen, created_date)
WITH accounts AS (
    SELECT a.id AS account_pk, {_CREATED_DATE} AS created_date
    FROM ingestion_account a
    WHERE a.organization_id = %(org)s AND a.first_seen_at < %(cutoff)s
),
other_products AS ({_OTHER_PRODUCTS_LAST_AT}),
metrics AS (
    SELECT acc.account_pk, acc.created_date, {_window_metrics("w")}, {_window_metrics("p")},
           coalesce(s.users_lifetime, 0) AS users_lifetime,
           coalesce(s.visits_lifetime, 0) AS visits_lifetime,
           s.first_at, s.last_at,
           greatest(s.last_at, o.last_at) AS org_last_at
    FROM accounts acc
    LEFT JOIN health_account_state s
        ON s.product_id = %(product)s AND s.account_pk = acc.account_pk
    LEFT JOIN other_products o ON o.account_pk = acc.account_pk
),
scored AS (
    SELECT m.*, (cfu_w + stickiness_w) / 2 AS score_w, (cfu_p + stickiness_p) / 2 AS score_p
    FROM metrics m
)
SELECT %(org)s, %(product)s, %(as_of)s, account_pk,
       mau_w, mau_p, avg_dau_w, avg_dau_p, avg_wau_w, avg_wau_p,
       stickiness_w, stickiness_p, cfu_w, cfu_p, coverage_w, coverage_p, score_w, score_p,
       {_health("w")}, {_health("p")},
       CASE WHEN cfu_w IS NULL THEN ''
            WHEN cfu_w < %(cfu_lower)s THEN 'Low'
            WHEN cfu_w < %(cfu_upper)s THEN 'Moderate' ELSE 'High' END,
       CASE WHEN coverage_w IS NULL OR mau_w = 0 THEN ''
            WHEN coverage_w < %(cov_lower)s THEN 'Low'
            WHEN coverage_w < %(cov_upper)s THEN 'Moderate' ELSE 'High' END,
       CASE WHEN stickiness_w IS NULL THEN ''
            WHEN stickiness_w < %(stk_lower)s THEN 'Low'
            WHEN stickiness_w < %(stk_upper)s THEN 'Moderate' ELSE 'High' END,
       risk_w, risk_p, visits_w, visits_p, seconds_w, seconds_p,
       users_lifetime, visits_lifetime, first_at, last_at, org_last_at, created_date
FROM scored
ORDER BY account_pk
"""


def account_health_write(
    *, product: Product, windows: Windows, settings: HealthSettings, k: int
) -> int:
    """One AccountHealth row per account known by the end of D."""
    params = _params(product, windows, settings, k)
    params["other_products"] = list(
        Product.objects.filter(organization_id=product.organization_id)
        .exclude(pk=product.pk)
        .values_list("pk", flat=True)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM health_accounthealth WHERE product_id = %(product)s AND as_of = %(as_of)s",
            params,
        )
        cursor.execute(_ACCOUNT_HEALTH_SQL, params)
        return cursor.rowcount


_DISTRIBUTION = """
    (SELECT jsonb_build_object(
        '{low}', count(*) FILTER (WHERE {band} = '{low}'),
        '{mid}', count(*) FILTER (WHERE {band} = '{mid}'),
        '{high}', count(*) FILTER (WHERE {band} = '{high}'),
        'mean', avg({value})) FROM rows WHERE active_users > 0)
"""


def _distribution(band: str, value: str, labels: tuple[str, str, str]) -> str:
    low, mid, high = labels
    return _DISTRIBUTION.format(band=band, value=value, low=low, mid=mid, high=high)


_LEVELS = ("Low", "Moderate", "High")

_PORTFOLIO_SQL = f"""
WITH rows AS MATERIALIZED (
    SELECT * FROM health_accounthealth
    WHERE product_id = %(product)s AND as_of = %(as_of)s
),
risk AS (
    -- users at risk in at least one account of the portfolio (known by the end of D), in
    -- W and P: rule 3 may give activity to an account first named after D, not a row
    SELECT count(DISTINCT user_pk) FILTER (WHERE risk_w) AS users_w,
           count(DISTINCT user_pk) FILTER (WHERE risk_p) AS users_p
    FROM health_pair_state
    WHERE product_id = %(product)s AND (risk_w OR risk_p) AND %(k)s > 0
      AND account_pk IN (SELECT account_id FROM rows)
),
members AS (
    -- belongs to an account by the end of D: a membership (read off the (organization,
    -- user, time) index, grouped in its order), or an event with context.groupId
    SELECT (SELECT count(*) FROM (
                SELECT user_id FROM ingestion_accountmembership
                WHERE organization_id = %(org)s AND event_time < %(cutoff)s
                GROUP BY user_id) with_membership)
         + (SELECT count(DISTINCT d.user_pk) FROM health_user_day d
            WHERE d.organization_id = %(org)s AND d.with_context_group AND d.day <= %(as_of)s
              AND NOT EXISTS (
                  SELECT 1 FROM ingestion_accountmembership m
                  WHERE m.organization_id = %(org)s AND m.user_id = d.user_pk
                    AND m.event_time < %(cutoff)s)) AS users
),
leads AS (
    -- the accounts known by the end of D (the rows), with their created day and status
    SELECT {_CREATED_DATE} AS created_date,
           lower(coalesce(a.traits->>'status', '')) IN ('lead', 'prospect') AS is_lead
    FROM ingestion_account a
    WHERE a.organization_id = %(org)s AND a.first_seen_at < %(cutoff)s
)
SELECT jsonb_build_object(
    'as_of', %(as_of)s::date,
    'total_accounts', (SELECT count(*) FROM rows),
    'total_users', (SELECT users FROM members),
    'active_accounts', (SELECT count(*) FROM rows WHERE active_users > 0),
    'active_accounts_prev', (SELECT count(*) FROM rows WHERE active_users_prev > 0),
    'accounts_at_risk', (SELECT count(*) FROM rows WHERE health = 'At Risk'),
    'accounts_at_risk_prev', (SELECT count(*) FROM rows WHERE health_prev = 'At Risk'),
    'users_at_risk', (SELECT users_w FROM risk),
    'users_at_risk_prev', (SELECT users_p FROM risk),
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
        'core_feature_usage', {_distribution("cfu_band", "core_feature_usage", _LEVELS)},
        'active_user_coverage', {_distribution("coverage_band", "active_user_coverage", _LEVELS)},
        'stickiness', {_distribution("stickiness_band", "stickiness", _LEVELS)}
    )
)
"""


def portfolio_write(
    *, product: Product, windows: Windows, settings: HealthSettings, k: int
) -> dict[str, Any]:
    params = _params(product, windows, settings, k)
    with connection.cursor() as cursor:
        cursor.execute(_PORTFOLIO_SQL, params)
        (summary,) = cursor.fetchone()
    # Django reads jsonb from raw cursors as text.
    summary = json.loads(summary) if isinstance(summary, str) else summary
    PortfolioHealth.objects.update_or_create(
        organization_id=product.organization_id,
        product=product,
        as_of=windows.as_of,
        defaults={"summary": summary},
    )
    return summary


# A sibling's rows for D: Last Seen is the latest of its own product's (product_last_seen)
# and the other products' daily rollups, including this run's fresh ones.
_SIBLING_LAST_SEEN_SQL = f"""
UPDATE health_accounthealth h SET last_seen = fresh.last_seen
FROM (
    SELECT s.id, greatest(s.product_last_seen, o.last_at) AS last_seen
    FROM health_accounthealth s
    LEFT JOIN ({_OTHER_PRODUCTS_LAST_AT}) o ON o.account_pk = s.account_id
    WHERE s.product_id = %(sibling)s AND s.as_of = %(as_of)s
) fresh
WHERE h.product_id = %(sibling)s AND h.as_of = %(as_of)s AND h.id = fresh.id
  AND h.last_seen IS DISTINCT FROM fresh.last_seen
"""


def siblings_refresh(*, product: Product, as_of: date, total_users: int) -> list[int]:
    """The organization-wide numbers of the other products' results for the same day:
    Last Seen spans the products and Total Users is the organization's, so this run's
    fresh daily rows change them. Runs of one organization are serialized
    (health.services), so once every product has run for D, all of them are exact,
    whatever the order. Returns the siblings refreshed."""
    siblings = list(
        PortfolioHealth.objects.filter(organization_id=product.organization_id, as_of=as_of)
        .exclude(product_id=product.pk)
        .values_list("product_id", flat=True)
    )
    if not siblings:
        return []
    products = [product.pk, *siblings]
    with connection.cursor() as cursor:
        for sibling in siblings:
            others = [pk for pk in products if pk != sibling]
            cursor.execute(
                _SIBLING_LAST_SEEN_SQL,
                {"other_products": others, "sibling": sibling, "as_of": as_of},
            )
        cursor.execute(
            """
            UPDATE health_portfoliohealth
            SET summary = jsonb_set(summary, '{total_users}', to_jsonb(%(total)s::int))
            WHERE product_id = ANY(%(siblings)s) AND as_of = %(as_of)s
            """,
            {"total": total_users, "siblings": siblings, "as_of": as_of},
        )
    return siblings
