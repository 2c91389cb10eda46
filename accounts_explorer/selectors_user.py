"""Reads for the user page: recent events with the features they match, the user's
account history (moves) and their numbers per account.

Three SQL statements, each bounded by the user: events through the (user_pk, event_time)
index, memberships through (user, event_time), sessions from the engine's rollup.
Feature matching is the engine's rule (health/engine.py `feature_keys`): event name
exact, page path glob through vitals_glob_to_like.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.db import connection

from accounts_explorer.selectors_account import (
    DASH,
    count_text,
    date_text,
    datetime_text,
    duration_text,
    latest_as_of,
)
from health.engine import Windows
from ingestion.models import EndUser
from vitals.tenancy.models import Organization, Product

RECENT_EVENTS = 100
HISTORY_ROWS = 100
TYPE_NAMES = {1: "track", 2: "page", 3: "screen", 4: "identify", 5: "group"}


@dataclass(frozen=True)
class ActivityRow:
    at: str
    type: str
    name: str
    account_id: str
    account_name: str
    features: list[str]


@dataclass(frozen=True)
class MoveRow:
    at: str
    account_id: str
    account_name: str
    current: bool


@dataclass(frozen=True)
class AccountNumbers:
    account_id: str
    account_name: str
    current: bool
    events: str
    active_days: str
    visits: str
    visits_lifetime: str
    avg_session: str
    first_seen: str
    last_seen: str


@dataclass
class UserActivity:
    user: EndUser
    display_name: str
    as_of: date | None
    current_account_id: str = ""
    current_account_name: str = ""
    activity: list[ActivityRow] = field(default_factory=list)
    moves: list[MoveRow] = field(default_factory=list)
    accounts: list[AccountNumbers] = field(default_factory=list)


def user_activity(
    *, organization: Organization, product: Product, user_id: str
) -> UserActivity | None:
    """The user page of a user of the organization in scope; None when unknown."""
    user = EndUser.objects.filter(external_id=user_id).first()
    if user is None:
        return None
    traits = user.traits if isinstance(user.traits, dict) else {}
    page = UserActivity(
        user=user,
        display_name=str(traits.get("name") or traits.get("email") or ""),
        as_of=latest_as_of(product=product),
    )
    page.moves = _moves(user)
    if page.moves:
        page.current_account_id = page.moves[0].account_id
        page.current_account_name = page.moves[0].account_name
    page.activity = _recent_activity(product, user)
    if page.as_of is not None:
        page.accounts = _per_account(
            product, user, page.as_of, organization.timezone, page.current_account_id
        )
    return page


_MOVES_SQL = """
SELECT event_time, external_id, name FROM (
    SELECT m.event_time, m.event_id, a.external_id, a.name,
           lag(m.account_id) OVER (ORDER BY m.event_time, m.event_id) AS previous,
           m.account_id
    FROM ingestion_accountmembership m
    JOIN ingestion_account a ON a.id = m.account_id
    WHERE m.organization_id = %(org)s AND m.user_id = %(user)s
) memberships
WHERE previous IS DISTINCT FROM account_id   -- repeated group calls are not moves
ORDER BY event_time DESC, event_id DESC
LIMIT %(limit)s
"""


def _moves(user: EndUser) -> list[MoveRow]:
    with connection.cursor() as cursor:
        cursor.execute(
            _MOVES_SQL, {"org": user.organization_id, "user": user.pk, "limit": HISTORY_ROWS}
        )
        rows = cursor.fetchall()
    return [
        MoveRow(datetime_text(at), external_id, name, current=index == 0)
        for index, (at, external_id, name) in enumerate(rows)
    ]


_ACTIVITY_SQL = r"""
SELECT e.event_time, e.type, k.name, a.external_id, a.name,
       coalesce((
           SELECT array_agg(f.name ORDER BY f.position, f.key)
           FROM health_feature f
           WHERE f.product_id = e.product_id AND k.id IS NOT NULL AND EXISTS (
               SELECT 1 FROM jsonb_array_elements(f.rules) AS rule
               WHERE vitals_rule_matches(k.kind, k.name, rule)
           )
       ), '{}') AS features
FROM (
    SELECT product_id, event_time, id, type, event_key_id, account_pk
    FROM ingestion_event
    WHERE user_pk = %(user)s AND product_id = %(product)s AND organization_id = %(org)s
    ORDER BY event_time DESC, id DESC
    LIMIT %(limit)s
) e
LEFT JOIN ingestion_eventkey k ON k.id = e.event_key_id
LEFT JOIN ingestion_account a ON a.id = e.account_pk
ORDER BY e.event_time DESC, e.id DESC
"""


def _recent_activity(product: Product, user: EndUser) -> list[ActivityRow]:
    params = {
        "user": user.pk,
        "product": product.pk,
        "org": product.organization_id,
        "limit": RECENT_EVENTS,
    }
    with connection.cursor() as cursor:
        cursor.execute(_ACTIVITY_SQL, params)
        rows = cursor.fetchall()
    return [
        ActivityRow(
            at=datetime_text(at),
            type=TYPE_NAMES.get(type_code, str(type_code)),
            name=name or "",
            account_id=account_id or "",
            account_name=account_name or "",
            features=list(features),
        )
        for at, type_code, name, account_id, account_name, features in rows
    ]


_PER_ACCOUNT_SQL = """
WITH events AS (
    -- activity events up to the end of the as-of day, through the user's time index
    SELECT account_pk,
           count(*) FILTER (WHERE event_time >= %(w_from)s) AS events,
           count(DISTINCT (event_time AT TIME ZONE %(tz)s)::date)
               FILTER (WHERE event_time >= %(w_from)s) AS active_days,
           min(event_time) AS first_seen, max(event_time) AS last_seen
    FROM ingestion_event
    WHERE user_pk = %(user)s AND product_id = %(product)s AND type IN (1, 2, 3)
      AND account_pk IS NOT NULL AND event_time < %(cutoff)s
    GROUP BY account_pk
),
sessions AS (
    SELECT account_pk,
           count(*) FILTER (WHERE day BETWEEN %(w_start)s AND %(w_end)s) AS visits,
           count(*) AS visits_lifetime,
           avg(extract(epoch FROM ended_at - started_at))
               FILTER (WHERE day BETWEEN %(w_start)s AND %(w_end)s) AS avg_seconds
    FROM health_session
    WHERE product_id = %(product)s AND user_pk = %(user)s AND account_pk IS NOT NULL
      AND day <= %(w_end)s
    GROUP BY account_pk
)
SELECT a.external_id, a.name, coalesce(e.events, 0), coalesce(e.active_days, 0),
       coalesce(s.visits, 0), coalesce(s.visits_lifetime, 0), s.avg_seconds,
       e.first_seen, e.last_seen
FROM events e
FULL JOIN sessions s USING (account_pk)
JOIN ingestion_account a ON a.id = coalesce(e.account_pk, s.account_pk)
ORDER BY e.last_seen DESC NULLS LAST, a.external_id
"""


def _per_account(
    product: Product, user: EndUser, as_of: date, timezone_name: str, current_account_id: str
) -> list[AccountNumbers]:
    windows = Windows.for_day(as_of, timezone_name)
    tz = ZoneInfo(timezone_name)
    w_from = datetime.combine(windows.w_start, datetime.min.time(), windows.cutoff.tzinfo)
    params = {
        **windows.params(),
        "w_from": w_from,
        "tz": timezone_name,
        "user": user.pk,
        "product": product.pk,
    }
    with connection.cursor() as cursor:
        cursor.execute(_PER_ACCOUNT_SQL, params)
        rows = cursor.fetchall()
    return [
        AccountNumbers(
            account_id=external_id,
            account_name=name,
            current=external_id == current_account_id,
            events=count_text(events),
            active_days=count_text(active_days),
            visits=count_text(visits),
            visits_lifetime=count_text(visits_lifetime),
            avg_session=duration_text(avg_seconds),
            # The calendar day in the organization's time zone, as every other day shown.
            first_seen=date_text(first_seen, tz) if first_seen else DASH,
            last_seen=datetime_text(last_seen),
        )
        for (
            external_id,
            name,
            events,
            active_days,
            visits,
            visits_lifetime,
            avg_seconds,
            first_seen,
            last_seen,
        ) in rows
    ]
