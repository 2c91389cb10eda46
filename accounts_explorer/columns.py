"""The Accounts table's columns: URL key, header, how to sort, how to show a cell.

Account information (SPEC section 1) comes from the account's traits, the KPIs and
lifetime columns from its AccountHealth row (SPEC section 5). A custom trait found on
the organization's accounts is a column too, keyed `trait.<name>` in `?cols=`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from django.db.models import F, OrderBy
from django.db.models.expressions import Expression
from django.db.models.fields.json import KeyTransform

from accounts_explorer import formatting as fmt
from health.models import AccountHealth


@dataclass(frozen=True)
class Cell:
    text: str
    title: str = ""
    colour: str = ""  # a band colour: red / yellow / green / grey
    badge: bool = False  # the band text itself, shown as a coloured pill
    href: str = ""
    trend: fmt.Trend | None = None
    numeric: bool = False


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    group: str  # "account", "kpi" or "lifetime"
    sort: Callable[[], Expression]
    cell: Callable[[AccountHealth, ZoneInfo], Cell]
    description: str = ""
    numeric: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _trait(row: AccountHealth, name: str) -> Any:
    return (row.account.traits or {}).get(name)


def _trait_text(value: Any) -> str:
    if value is None or value == "":
        return fmt.NOT_AVAILABLE
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int | float):
        return fmt.integer(value) if float(value).is_integer() else f"{value:,}"
    if isinstance(value, dict | list):
        return str(value)
    return str(value)


def _trait_sort(name: str) -> Callable[[], Expression]:
    # jsonb order: numbers compare as numbers, strings as strings.
    return lambda: KeyTransform(name, "account__traits")


def trait_column(name: str, label: str | None = None, *, custom: bool = False) -> Column:
    def cell(row: AccountHealth, tz: ZoneInfo) -> Cell:
        value = _trait(row, name)
        return Cell(text=_trait_text(value), numeric=isinstance(value, int | float))

    return Column(
        key=f"trait.{name}" if custom else name,
        label=label or name,
        group="account",
        sort=_trait_sort(name),
        cell=cell,
        description=f"The account's {name!r} trait" + (" (custom)" if custom else ""),
    )


def _website(row: AccountHealth, tz: ZoneInfo) -> Cell:
    value = _trait(row, "website")
    if not value or not isinstance(value, str):
        return Cell(text=fmt.NOT_AVAILABLE)
    parsed = urlparse(value)
    if parsed.scheme in ("http", "https") and parsed.netloc:
        return Cell(text=parsed.netloc, title=value, href=value)
    return Cell(text=value)


def _percent_kpi(field_name: str, band_field: str | None) -> Callable[..., Cell]:
    def cell(row: AccountHealth, tz: ZoneInfo) -> Cell:
        value = getattr(row, field_name)
        prior = getattr(row, f"{field_name}_prev")
        band = getattr(row, band_field) if band_field else ""
        return Cell(
            text=fmt.percent(value),
            title=band,
            colour=fmt.band_colour(band) if value is not None else "",
            trend=fmt.trend_of(value, prior, fmt.percent(prior)),
            numeric=True,
        )

    return cell


def _count_kpi(field_name: str, *, higher_is_better: bool = True) -> Callable[..., Cell]:
    def cell(row: AccountHealth, tz: ZoneInfo) -> Cell:
        value = getattr(row, field_name)
        prior = getattr(row, f"{field_name}_prev")
        return Cell(
            text=fmt.integer(value),
            trend=fmt.trend_of(value, prior, fmt.integer(prior), higher_is_better=higher_is_better),
            numeric=True,
        )

    return cell


def _plain(field_name: str, render: Callable[[Any], str]) -> Callable[..., Cell]:
    def cell(row: AccountHealth, tz: ZoneInfo) -> Cell:
        return Cell(text=render(getattr(row, field_name)), numeric=True)

    return cell


def _seen(field_name: str) -> Callable[..., Cell]:
    def cell(row: AccountHealth, tz: ZoneInfo) -> Cell:
        value = getattr(row, field_name)
        return Cell(text=fmt.day(value, tz), title=fmt.timestamp_utc(value))

    return cell


def _health(row: AccountHealth, tz: ZoneInfo) -> Cell:
    return Cell(
        text=row.health,
        title=f"Prior 30 days: {row.health_prev}",
        colour=fmt.band_colour(row.health),
        badge=True,
    )


def _name(row: AccountHealth, tz: ZoneInfo) -> Cell:
    return Cell(text=row.account.name or row.account.external_id)


def _field(name: str) -> Callable[[], Expression]:
    return lambda: F(name)


SPEC_TRAITS = [
    ("plan", "Plan"),
    ("industry", "Industry"),
    ("employees", "Employees"),
    ("country", "Country"),
    ("region", "Region"),
    ("status", "Status"),
    ("country_code", "Country code"),
    ("state", "State"),
    ("state_code", "State code"),
    ("city", "City"),
    ("street", "Street"),
    ("postal_code", "Postal code"),
    ("continent", "Continent"),
    ("timezone", "Time zone"),
    ("inferred_industry", "Inferred industry"),
    ("inferred_employees", "Inferred employees"),
    ("inferred_revenue", "Inferred revenue"),
    ("inferred_sic_code", "Inferred SIC code"),
    ("inferred_naics_code", "Inferred NAICS code"),
]
# Traits that are columns of their own or not account information at all.
RESERVED_TRAITS = {"name", "website", "createdAt", "created_at", "id", "groupId"}
KNOWN_TRAITS = {name for name, _ in SPEC_TRAITS} | RESERVED_TRAITS
CUSTOM_TRAIT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .\-]{0,63}$")

KPI_DESCRIPTIONS = {
    "health": "The Product Score's band: At Risk, Neutral or Healthy (Inactive without users)",
    "product_score": "(Core Feature Usage + Stickiness) / 2, last 30 days",
    "core_feature_usage": "Mean share of the core items an active user used, last 30 days",
    "active_user_coverage": "Active users of the last 30 days / users active in six months",
    "stickiness": "Average DAU (or WAU) / monthly active users, last 30 days",
    "active_users": "Distinct users active in the last 30 days (MAU)",
    "users_at_risk": "Users active in six months whose own CFU is below the lower limit",
    "visits": "Sessions started in the last 30 days (30-minute gap)",
}


def _columns() -> list[Column]:
    cols = [
        Column("name", "Account", "account", _field("account__name"), _name),
        Column(
            "id",
            "Account ID",
            "account",
            _field("account__external_id"),
            lambda row, tz: Cell(text=row.account.external_id),
        ),
        Column("health", "Health", "kpi", _field("product_score"), _health),
        Column(
            "score",
            "Product Score",
            "kpi",
            _field("product_score"),
            _percent_kpi("product_score", "health"),
            numeric=True,
        ),
        Column(
            "cfu",
            "Core Feature Usage",
            "kpi",
            _field("core_feature_usage"),
            _percent_kpi("core_feature_usage", "cfu_band"),
            numeric=True,
        ),
        Column(
            "stickiness",
            "Stickiness",
            "kpi",
            _field("stickiness"),
            _percent_kpi("stickiness", "stickiness_band"),
            numeric=True,
        ),
        Column(
            "coverage",
            "Active User Coverage",
            "kpi",
            _field("active_user_coverage"),
            _percent_kpi("active_user_coverage", "coverage_band"),
            numeric=True,
        ),
        Column(
            "active_users",
            "Active Users",
            "kpi",
            _field("active_users"),
            _count_kpi("active_users"),
            numeric=True,
        ),
        Column(
            "users_at_risk",
            "Users at Risk",
            "kpi",
            _field("users_at_risk"),
            _count_kpi("users_at_risk", higher_is_better=False),
            numeric=True,
        ),
        Column("visits", "Visits", "kpi", _field("visits"), _count_kpi("visits"), numeric=True),
        Column(
            "avg_session",
            "Avg. Session",
            "kpi",
            _field("avg_session_seconds"),
            _plain("avg_session_seconds", fmt.duration),
            numeric=True,
        ),
        Column(
            "avg_dau",
            "Avg. DAU",
            "kpi",
            _field("avg_dau"),
            _plain("avg_dau", fmt.decimal),
            numeric=True,
        ),
        Column(
            "avg_wau",
            "Avg. WAU",
            "kpi",
            _field("avg_wau"),
            _plain("avg_wau", fmt.decimal),
            numeric=True,
        ),
        Column(
            "product_last_seen",
            "Product Last Seen",
            "lifetime",
            _field("product_last_seen"),
            _seen("product_last_seen"),
        ),
        Column(
            "product_first_seen",
            "Customer Since",
            "lifetime",
            _field("product_first_seen"),
            _seen("product_first_seen"),
        ),
        Column("last_seen", "Last Seen", "lifetime", _field("last_seen"), _seen("last_seen")),
        Column(
            "users_lifetime",
            "Users (lifetime)",
            "lifetime",
            _field("users_lifetime"),
            _plain("users_lifetime", fmt.integer),
            numeric=True,
        ),
        Column(
            "visits_lifetime",
            "Visits (lifetime)",
            "lifetime",
            _field("visits_lifetime"),
            _plain("visits_lifetime", fmt.integer),
            numeric=True,
        ),
        Column(
            "created",
            "Created",
            "account",
            _field("created_date"),
            lambda row, tz: Cell(text=fmt.day(row.created_date)),
        ),
        Column("website", "Website", "account", _trait_sort("website"), _website),
    ]
    cols += [trait_column(name, label) for name, label in SPEC_TRAITS]
    descriptions = {
        "score": KPI_DESCRIPTIONS["product_score"],
        "cfu": KPI_DESCRIPTIONS["core_feature_usage"],
        "coverage": KPI_DESCRIPTIONS["active_user_coverage"],
        "health": KPI_DESCRIPTIONS["health"],
        "stickiness": KPI_DESCRIPTIONS["stickiness"],
        "active_users": KPI_DESCRIPTIONS["active_users"],
        "users_at_risk": KPI_DESCRIPTIONS["users_at_risk"],
        "visits": KPI_DESCRIPTIONS["visits"],
    }
    return [
        Column(**{**col.__dict__, "description": descriptions.get(col.key, col.description)})
        for col in cols
    ]


COLUMNS: dict[str, Column] = {col.key: col for col in _columns()}

DEFAULT_COLUMNS = [
    "name",
    "id",
    "health",
    "score",
    "cfu",
    "stickiness",
    "coverage",
    "active_users",
    "users_at_risk",
    "visits",
    "product_last_seen",
    "plan",
]
DEFAULT_SORT = "-active_users"


def column_for(key: str, custom_traits: frozenset[str]) -> Column | None:
    if key in COLUMNS:
        return COLUMNS[key]
    if key.startswith("trait.") and key[len("trait.") :] in custom_traits:
        return trait_column(key[len("trait.") :], custom=True)
    return None


def order_by(column: Column, *, descending: bool) -> list[OrderBy]:
    """Nulls count as the lowest value (first ascending, last descending), so one b-tree
    index per column serves both directions; ties break on the account, stably."""
    expression = column.sort()
    if descending:
        return [expression.desc(nulls_last=True), F("account_id").desc()]
    return [expression.asc(nulls_first=True), F("account_id").asc()]
