"""Reads for the account drill-down (SPEC sections 5-8): the account's AccountHealth row of
the latest as-of day, its history for the trend, the catalog for the lists' names.

Every number comes from the engine's rollups (health/engine.py); nothing is recomputed here.
A fixed handful of queries whatever the account's size: the lists are JSON on the row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.db.models import Func, IntegerField, Subquery
from django.http import QueryDict

from accounts_explorer import formatting as fmt
from accounts_explorer.trend_svg import TREND_DAYS, TrendChart, trend_chart
from health.models import (
    DEFAULT_THRESHOLDS,
    AccountHealth,
    Feature,
    HealthSettings,
    Module,
    PortfolioHealth,
)
from health.selectors import drilldown_lists
from ingestion.models import Account, EndUser
from vitals.tenancy.models import Product

DASH = fmt.NOT_AVAILABLE
percent_text = fmt.percent
duration_text = fmt.duration
count_text = fmt.integer


def date_text(value: date | datetime | None, tz: ZoneInfo | None = None) -> str:
    return fmt.day(value, tz)


def datetime_text(value: datetime | None) -> str:
    return DASH if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


# --- the request's view of the lists --------------------------------------------------

USERS_SHOWN = 25
USAGE_SHOWN = 10
ZERO_SHOWN = 50


@dataclass(frozen=True)
class DrilldownOptions:
    """Which way each list is cut; parsed from the query string, defaults dropped from URLs."""

    rank: str = "core"  # users ranked by core items used ("core") or visits ("visits")
    users: str = "top"
    uq: str = ""
    usage: str = "features"  # features or modules
    usage_end: str = "top"
    zero: str = "features"
    zq: str = ""

    CHOICES = {
        "rank": ("core", "visits"),
        "users": ("top", "bottom"),
        "usage": ("features", "modules"),
        "usage_end": ("top", "bottom"),
        "zero": ("features", "modules"),
    }

    @classmethod
    def from_query(cls, query: QueryDict) -> DrilldownOptions:
        values: dict[str, str] = {}
        for name, choices in cls.CHOICES.items():
            if query.get(name) in choices:
                values[name] = query[name]
        for name in ("uq", "zq"):
            values[name] = query.get(name, "").strip()[:200]
        return cls(**values)

    def _params(self, **changes: str) -> dict[str, str]:
        current = {name: getattr(self, name) for name in (*self.CHOICES, "uq", "zq")}
        current.update(changes)
        defaults = DrilldownOptions()
        return {k: v for k, v in current.items() if v != getattr(defaults, k)}

    def link(self, **changes: str) -> str:
        params = self._params(**changes)
        return "?" + urlencode(params) if params else "?"

    def links(self) -> dict[str, str]:
        """The href of every toggle, each keeping the other lists' state."""
        return {
            f"{name}_{choice}": self.link(**{name: choice})
            for name, choices in self.CHOICES.items()
            for choice in choices
        }

    def hidden_fields(self, *, without: str) -> list[tuple[str, str]]:
        """The state a search form must carry along (a GET form replaces the query)."""
        return [(k, v) for k, v in self._params().items() if k != without]


# --- what the page shows ---------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    label: str
    value: str
    note: str = ""


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    value: str
    band: str
    colour: str
    prev_value: str
    prev_band: str
    prev_colour: str
    trend: fmt.Trend
    change: str  # "+12.3 pts", empty without a prior value
    description: str


@dataclass(frozen=True)
class UserRow:
    rank: int
    user_id: str
    display_name: str
    core_items: int
    core_events: int
    user_cfu: str
    at_risk: bool
    visits: int
    visits_lifetime: int


@dataclass(frozen=True)
class UsageRow:
    rank: int
    key: str
    label: str
    detail: str
    events: int
    share: float  # 0..100, of the list's largest count: a bar's length


@dataclass(frozen=True)
class ZeroRow:
    key: str
    label: str
    path: str
    changed_at: str
    changed_by: str


@dataclass(frozen=True)
class Attribute:
    label: str
    value: str
    href: str = ""


@dataclass
class AccountDrilldown:
    account: Account
    health: AccountHealth | None
    as_of: date | None
    core_items: int = 0
    summary: list[Figure] = field(default_factory=list)
    kpis: list[Kpi] = field(default_factory=list)
    active_users: Figure | None = None
    trend: TrendChart | None = None
    users: list[UserRow] = field(default_factory=list)
    users_total: int = 0
    users_matching: int = 0
    usage: list[UsageRow] = field(default_factory=list)
    usage_total: int = 0
    zero: list[ZeroRow] = field(default_factory=list)
    zero_total: int = 0
    zero_matching: int = 0
    attributes: list[Attribute] = field(default_factory=list)
    custom_traits: list[Attribute] = field(default_factory=list)


# (field, label, band field or None, thresholds key, description)
KPI_DEFINITIONS = [
    (
        "core_feature_usage",
        "Core Feature Usage",
        "cfu_band",
        "core_feature_usage",
        "Mean share of the core items each active user used in the last 30 days.",
    ),
    (
        "active_user_coverage",
        "Active User Coverage",
        "coverage_band",
        "active_user_coverage",
        "Users active in the last 30 days out of those active in the last 180 days.",
    ),
    (
        "stickiness",
        "Stickiness",
        "stickiness_band",
        "stickiness",
        "Average daily (or weekly) active users over monthly active users.",
    ),
    (
        "product_score",
        "Product Score",
        None,
        "product_score",
        "The mean of Core Feature Usage and Stickiness.",
    ),
]
THRESHOLD_FIELDS = {
    "core_feature_usage": ("cfu_lower", "cfu_upper"),
    "active_user_coverage": ("coverage_lower", "coverage_upper"),
    "stickiness": ("stickiness_lower", "stickiness_upper"),
    "product_score": ("score_lower", "score_upper"),
}


def latest_as_of(*, product: Product) -> date | None:
    """The product's as-of day: the latest computed portfolio."""
    return (
        PortfolioHealth.objects.filter(product=product)
        .order_by("-as_of")
        .values_list("as_of", flat=True)
        .first()
    )


def account_drilldown(
    *, product: Product, account_id: str, options: DrilldownOptions
) -> AccountDrilldown | None:
    """The drill-down of one account of the organization in scope; None when unknown."""
    account = Account.objects.filter(external_id=account_id).first()
    if account is None:
        return None
    latest = PortfolioHealth.objects.filter(product=product).order_by("-as_of").values("as_of")[:1]
    health = (
        AccountHealth.objects.filter(product=product, account=account)
        .filter(as_of=Subquery(latest))
        .annotate(core_items=Subquery(_core_item_count(product)))
        .first()
    )
    drilldown = AccountDrilldown(account=account, health=health, as_of=None)
    drilldown.attributes, drilldown.custom_traits = _attributes(account, health)
    if health is None:
        return drilldown
    thresholds = _thresholds(product)
    drilldown.as_of = health.as_of
    drilldown.core_items = health.core_items or 0
    drilldown.summary = _summary(health, product.organization.tzinfo)
    drilldown.kpis = [_kpi(health, thresholds, *definition) for definition in KPI_DEFINITIONS]
    drilldown.active_users = Figure(
        "Active users (30 days)",
        count_text(health.active_users),
        f"{count_text(health.active_users_prev)} in the prior 30 days",
    )
    history = (
        AccountHealth.objects.filter(
            product=product,
            account=account,
            as_of__gt=health.as_of - timedelta(days=TREND_DAYS),
            as_of__lte=health.as_of,
        )
        .order_by("as_of")
        .values("as_of", *(definition[0] for definition in KPI_DEFINITIONS))
    )
    drilldown.trend = trend_chart(history=list(history), as_of=health.as_of)
    lists = drilldown_lists(product=product, as_of=health.as_of, account_pks=[account.pk])
    _users(drilldown, lists[account.pk], thresholds, options)
    _usage(drilldown, product, lists[account.pk], options)
    return drilldown


def _core_item_count(product: Product) -> Any:
    return (
        HealthSettings.objects.filter(product=product)
        .annotate(n=Func("core_items", function="jsonb_array_length", output_field=IntegerField()))
        .values("n")[:1]
    )


def _thresholds(product: Product) -> dict[str, tuple[float, float]]:
    row = HealthSettings.objects.filter(product=product).values(
        *(name for pair in THRESHOLD_FIELDS.values() for name in pair)
    )
    found = row.first()
    if found is None:
        return dict(DEFAULT_THRESHOLDS)
    return {metric: (found[lo], found[hi]) for metric, (lo, hi) in THRESHOLD_FIELDS.items()}


def _kpi(
    health: AccountHealth,
    thresholds: dict[str, tuple[float, float]],
    name: str,
    label: str,
    band_field: str | None,
    threshold_key: str,
    description: str,
) -> Kpi:
    value = getattr(health, name)
    prev = getattr(health, f"{name}_prev")
    if band_field is None:
        band, prev_band = health.health, health.health_prev
    else:
        band = getattr(health, band_field)
        prev_band = fmt.level_band(prev, *thresholds[threshold_key])
    if not band:
        band = "Inactive" if health.active_users == 0 else "Not configured"
    change = "" if value is None or prev is None else f"{value - prev:+.1f} pts"
    return Kpi(
        key=name,
        label=label,
        value=percent_text(value),
        band=band,
        colour=fmt.band_colour(band),
        prev_value=percent_text(prev),
        prev_band=prev_band,
        prev_colour=fmt.band_colour(prev_band),
        trend=fmt.trend_of(value, prev, percent_text(prev)),
        change=change,
        description=description,
    )


def _summary(health: AccountHealth, tz: ZoneInfo) -> list[Figure]:
    return [
        # The calendar day in the organization's time zone, as the explorer shows it.
        Figure("Customer Since", date_text(health.product_first_seen, tz)),
        Figure("Total Visits", count_text(health.visits_lifetime), "lifetime"),
        Figure("Last Seen", datetime_text(health.last_seen)),
        Figure("Total Users", count_text(health.users_lifetime), "lifetime"),
        Figure(
            "Average Session Duration",
            duration_text(health.avg_session_seconds),
            f"{count_text(health.visits)} visits in the last 30 days",
        ),
        Figure(
            "Users at Risk",
            count_text(health.users_at_risk),
            f"{count_text(health.users_at_risk_prev)} in the prior 30 days",
        ),
    ]


def _users(
    drilldown: AccountDrilldown,
    data: dict[str, Any],
    thresholds: dict[str, tuple[float, float]],
    options: DrilldownOptions,
) -> None:
    """SPEC section 8 Users: the ranking of health.selectors, reversed for the bottom."""
    rows = data.get("users", [])
    if options.rank == "visits":
        by_id = {row["user_id"]: row for row in rows}
        rows = [
            by_id[user_id] for user_id in data.get("top_users_by_visits", []) if user_id in by_id
        ]
    ranked = list(enumerate(rows, start=1))
    if options.users == "bottom":
        ranked.reverse()
    drilldown.users_total = len(ranked)
    if options.uq:
        needle = options.uq.casefold()
        ranked = [(rank, row) for rank, row in ranked if needle in row["user_id"].casefold()]
    drilldown.users_matching = len(ranked)
    shown = ranked[:USERS_SHOWN]
    names = _user_names([row["user_id"] for _, row in shown])
    k = drilldown.core_items
    lower = thresholds["core_feature_usage"][0]
    drilldown.users = [
        UserRow(
            rank=rank,
            user_id=row["user_id"],
            display_name=names.get(row["user_id"], ""),
            core_items=row["core_items"],
            core_events=row["core_events"],
            user_cfu=percent_text(row["core_items"] / k * 100) if k else DASH,
            at_risk=bool(k) and row["core_items"] / k * 100 < lower,
            visits=row["visits"],
            visits_lifetime=row["visits_lifetime"],
        )
        for rank, row in shown
    ]


def _user_names(user_ids: list[str]) -> dict[str, str]:
    names = {}
    # `or [""]`: an empty IN would skip the query, and the count is pinned either way.
    for external_id, traits in EndUser.objects.filter(external_id__in=user_ids or [""]).values_list(
        "external_id", "traits"
    ):
        if isinstance(traits, dict):
            name = traits.get("name") or traits.get("email") or ""
            names[external_id] = str(name)
    return names


def _usage(
    drilldown: AccountDrilldown, product: Product, data: dict[str, Any], options: DrilldownOptions
) -> None:
    features = {
        f.key: f
        for f in Feature.objects.filter(product=product)
        .select_related("updated_by")
        .only("key", "name", "module_path", "updated_at", "updated_by__email")
    }
    counts = data.get(options.usage, [])
    ranked = list(enumerate(counts, start=1))
    if options.usage_end == "bottom":
        ranked.reverse()
    drilldown.usage_total = len(ranked)
    top = max((events for _, events in counts), default=0)
    rows = []
    for rank, (key, events) in ranked[:USAGE_SHOWN]:
        feature = features.get(key) if options.usage == "features" else None
        rows.append(
            UsageRow(
                rank=rank,
                key=key,
                label=feature.name if feature else key,
                detail=(f"{feature.module_path} · {key}" if feature.module_path else key)
                if feature
                else "",
                events=events,
                share=round(events / top * 100, 1) if top else 0.0,
            )
        )
    drilldown.usage = rows

    zero_keys = data.get(f"zero_usage_{options.zero}", [])
    if options.zero == "features":
        entries = [
            (f.key, f.name, f"{f.module_path}/{f.key}" if f.module_path else f.key, f)
            for f in (features.get(key) for key in zero_keys)
            if f is not None
        ]
    else:
        modules = {
            m.path: m
            for m in Module.objects.filter(product=product)
            .select_related("updated_by")
            .only("path", "updated_at", "updated_by__email")
        }
        entries = [(path, path, path, modules[path]) for path in zero_keys if path in modules]
    drilldown.zero_total = len(entries)
    if options.zq:
        needle = options.zq.casefold()
        entries = [e for e in entries if any(needle in text.casefold() for text in e[:3])]
    drilldown.zero_matching = len(entries)
    drilldown.zero = [
        ZeroRow(
            key=key,
            label=label,
            path=path,
            changed_at=datetime_text(entry.updated_at),
            changed_by=entry.updated_by.email if entry.updated_by else "import",
        )
        for key, label, path, entry in entries[:ZERO_SHOWN]
    ]


# SPEC section 1: the account attributes, in the order a CS manager reads them.
ACCOUNT_ATTRIBUTES = [
    ("name", "Name"),
    ("website", "Website"),
    ("industry", "Industry"),
    ("employees", "Employees"),
    ("plan", "Plan"),
    ("status", "Status"),
    ("createdAt", "Created"),
    ("country", "Country"),
    ("country_code", "Country code"),
    ("state", "State"),
    ("state_code", "State code"),
    ("city", "City"),
    ("street", "Street"),
    ("postal_code", "Postal code"),
    ("continent", "Continent"),
    ("region", "Region"),
    ("timezone", "Time zone"),
    ("inferred_industry", "Inferred industry"),
    ("inferred_employees", "Inferred employees"),
    ("inferred_revenue", "Inferred revenue"),
    ("inferred_sic_code", "Inferred SIC code"),
    ("inferred_naics_code", "Inferred NAICS code"),
]
_ATTRIBUTE_ALIASES = {"createdAt": ("created_at", "createdDate"), "postal_code": ("postalCode",)}


def _trait_text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _attributes(
    account: Account, health: AccountHealth | None
) -> tuple[list[Attribute], list[Attribute]]:
    traits = account.traits if isinstance(account.traits, dict) else {}
    known: set[str] = set()
    attributes = [Attribute("Account ID", account.external_id)]
    for key, label in ACCOUNT_ATTRIBUTES:
        names = (key, *_ATTRIBUTE_ALIASES.get(key, ()))
        known.update(names)
        value = next((traits[n] for n in names if traits.get(n) not in (None, "")), None)
        if key == "createdAt" and health is not None and health.created_date:
            value = health.created_date.isoformat()
        if value is None:
            continue
        text = _trait_text(value)
        href = text if key == "website" and text.startswith(("https://", "http://")) else ""
        attributes.append(Attribute(label, text, href))
    custom = [
        Attribute(key, _trait_text(value))
        for key, value in sorted(traits.items())
        if key not in known and value not in (None, "")
    ]
    return attributes, custom
