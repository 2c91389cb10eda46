"""Reads for the Accounts Explorer: one product's latest portfolio and its accounts table.

Every number comes from the rollups the health engine writes (health_portfoliohealth,
health_accounthealth): the page never recomputes a KPI. Queries are a fixed number per
request whatever the number of accounts (tests/explorer/test_query_counts.py).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.urls import NoReverseMatch, reverse

from accounts_explorer import formatting as fmt
from accounts_explorer.bookmarks import bookmark_get
from accounts_explorer.columns import (
    COLUMNS,
    CUSTOM_TRAIT_NAME,
    KNOWN_TRAITS,
    Cell,
    Column,
    column_for,
    order_by,
    trait_column,
)
from accounts_explorer.filters import (
    PAGE_SIZE,
    QUICK_FILTERS,
    AccountHealthFilter,
    ExplorerState,
    FilterField,
    explorer_state_from,
    filter_chip_label,
    filter_fields,
    health_filter,
    state_query_from_json,
    window_start,
)
from accounts_explorer.models import Bookmark
from accounts_explorer.svg import Bar, bar_chart
from health.models import AccountHealth, HealthSettings, PortfolioHealth
from vitals.tenancy.models import Organization, Product

TRAITS_CACHE_SECONDS = 3600
COUNTS_CACHE_SECONDS = 600
MAX_CUSTOM_TRAITS = 50


# ---------------------------------------------------------------- portfolio and settings


def portfolio_latest(*, product: Product, default_for: Any = None) -> PortfolioHealth | None:
    """The as-of day the explorer shows: the product's latest computed portfolio. With
    `default_for` (a user) it also carries that person's default bookmark id, in the same
    query, as `default_bookmark_id`."""
    queryset = PortfolioHealth.objects.filter(product=product)
    if default_for is not None:
        defaults = Bookmark.objects.filter(
            product=OuterRef("product"), owner=default_for, is_default=True
        )
        queryset = queryset.annotate(default_bookmark_id=Subquery(defaults.values("pk")[:1]))
    return queryset.order_by("-as_of").first()


def health_settings_read(*, product: Product) -> HealthSettings:
    """The product's settings, or the defaults (unsaved) when none were stored yet."""
    found = HealthSettings.objects.filter(product=product).first()
    return found or HealthSettings(organization_id=product.organization_id, product=product)


def custom_traits(*, product: Product, portfolio: PortfolioHealth) -> list[str]:
    """Trait names on the organization's accounts beyond SPEC section 1's, cached per
    health run: scanning every account's traits is too slow for each table request."""
    key = f"explorer:traits:{_run_version(portfolio)}"
    names = cache.get(key)
    if names is None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT jsonb_object_keys(traits) FROM ingestion_account"
                " WHERE organization_id = %s AND jsonb_typeof(traits) = 'object'",
                [product.organization_id],
            )
            found = sorted(row[0] for row in cursor.fetchall())
        names = [
            name for name in found if name not in KNOWN_TRAITS and CUSTOM_TRAIT_NAME.match(name)
        ][:MAX_CUSTOM_TRAITS]
        cache.set(key, names, TRAITS_CACHE_SECONDS)
    return names


def _run_version(portfolio: PortfolioHealth) -> str:
    """Changes whenever a health run rewrites the product's rows for the day, so cached
    reads of those rows are never stale."""
    return f"{portfolio.product_id}:{portfolio.as_of}:{portfolio.computed_at.timestamp()}"


# ---------------------------------------------------------------- Summary widget


@dataclass(frozen=True)
class SummaryFigure:
    key: str
    label: str
    value: str
    change: fmt.Change | None
    description: str


SUMMARY_FIGURES = [
    # key, label, has a prior value, higher is better, description
    ("total_accounts", "Total Accounts", False, True, "Every account known by the as-of day"),
    ("total_users", "Total Users", False, True, "Every user who belongs to an account"),
    (
        "accounts_at_risk",
        "Accounts at Risk",
        True,
        False,
        "Active accounts whose Product Score is At Risk",
    ),
    ("users_at_risk", "Users at Risk", True, False, "Distinct users at risk in any account"),
    (
        "active_accounts",
        "Active Accounts",
        True,
        True,
        "Accounts with active users in the last 30 days",
    ),
    ("new_leads", "New Leads", True, True, "Leads created in the last 30 days"),
    ("new_accounts", "New Accounts", True, True, "Accounts created in the last 30 days"),
]


def summary_figures(*, summary: dict[str, Any]) -> list[SummaryFigure]:
    figures = []
    for key, label, has_prior, higher_is_better, description in SUMMARY_FIGURES:
        value = summary.get(key) or 0
        prior = (summary.get(f"{key}_prev") or 0) if has_prior else None
        figures.append(
            SummaryFigure(
                key=key,
                label=label,
                value=fmt.integer(value),
                change=fmt.change_of(value, prior, higher_is_better=higher_is_better),
                description=description,
            )
        )
    return figures


# ---------------------------------------------------------------- Health widget


@dataclass(frozen=True)
class HealthMetric:
    key: str
    label: str
    mean: str
    mean_colour: str
    description: str
    formula: str
    limits: str
    chart: str


NEEDS_CORE_ITEMS = ("product_score", "core_feature_usage")


def health_metrics(*, summary: dict[str, Any], settings: HealthSettings) -> list[HealthMetric]:
    health = summary.get("health") or {}
    stickiness_formula = (
        "Average WAU / MAU × 100"
        if settings.stickiness_mode == "wau"
        else "Average DAU / MAU × 100"
    )
    specs = [
        (
            "product_score",
            "Product Score",
            ("At Risk", "Neutral", "Healthy"),
            (settings.score_lower, settings.score_upper),
            "How well an account uses the product: its core features and how often.",
            "(Core Feature Usage + Stickiness) / 2",
        ),
        (
            "core_feature_usage",
            "Core Feature Usage",
            ("Low", "Moderate", "High"),
            (settings.cfu_lower, settings.cfu_upper),
            "How many of the core items an active user used in the last 30 days, on average.",
            "mean over active users of core items used / core items × 100",
        ),
        (
            "active_user_coverage",
            "Active User Coverage",
            ("Low", "Moderate", "High"),
            (settings.coverage_lower, settings.coverage_upper),
            "How many of the account's users of the last six months are still active.",
            "active users (30 days) / users active in six months × 100",
        ),
        (
            "stickiness",
            "Stickiness",
            ("Low", "Moderate", "High"),
            (settings.stickiness_lower, settings.stickiness_upper),
            "How often the active users come back.",
            stickiness_formula,
        ),
    ]
    metrics = []
    for key, label, bands, (lower, upper), description, formula in specs:
        values = health.get(key) or {}
        mean = values.get("mean")
        band_of = fmt.score_band if key == "product_score" else fmt.level_band
        low, mid, high = bands
        limits = f"{low} < {lower:g} ≤ {mid} < {upper:g} ≤ {high}"
        metrics.append(
            HealthMetric(
                key=key,
                label=label,
                mean=(
                    "Not configured"
                    if mean is None and key in NEEDS_CORE_ITEMS and not settings.core_items
                    else fmt.percent(mean)
                ),
                mean_colour=fmt.band_colour(band_of(mean, lower, upper)),
                description=description,
                formula=formula,
                limits=limits,
                chart=bar_chart(
                    chart_id=f"chart-{key.replace('_', '-')}",
                    title=f"{label}: active accounts by band",
                    description=f"{description} Mean {fmt.percent(mean)}.",
                    bars=[
                        Bar(
                            label=band,
                            value=int(values.get(band) or 0),
                            colour=fmt.band_colour(band),
                        )
                        for band in bands
                    ],
                ),
            )
        )
    return metrics


# ---------------------------------------------------------------- Accounts table


@dataclass(frozen=True)
class QuickFilter:
    key: str
    label: str
    count: str
    url: str
    active: bool


@dataclass(frozen=True)
class Header:
    key: str
    label: str
    description: str
    url: str
    aria_sort: str  # ascending / descending / none
    numeric: bool


@dataclass(frozen=True)
class Row:
    account_id: str
    href: str
    cells: list[tuple[str, Cell]]


@dataclass(frozen=True)
class ChooserItem:
    key: str
    label: str
    group: str
    checked: bool
    toggle_url: str
    up_url: str
    down_url: str


@dataclass(frozen=True)
class FilterChip:
    name: str
    value: str
    label: str
    remove_url: str


@dataclass(frozen=True)
class Snapshot:
    """The frozen bookmark whose accounts the table is limited to."""

    bookmark_id: int
    name: str
    accounts: int
    saved: str  # ISO day
    leave_url: str


@dataclass(frozen=True)
class AccountTable:
    state: ExplorerState
    quick_filters: list[QuickFilter]
    headers: list[Header]
    rows: list[Row]
    matching: int
    range_text: str  # "1–50 of 1,234 accounts"
    page: int
    pages: int
    previous_url: str
    next_url: str
    last_seen_chip: str  # the URL removing the default filter; "" when removed
    last_seen_restore: str  # the URL putting it back; "" when in force
    chooser: list[ChooserItem]
    hidden_inputs: list[tuple[str, str]]  # the state the search form carries along
    chips: list[FilterChip] = field(default_factory=list)
    snapshot: Snapshot | None = None
    export_url: str = ""  # the current view as CSV (query string only)
    export_all_url: str = ""
    bookmark_query: str = ""  # the state a saved bookmark keeps
    filter_fields: list[FilterField] = field(default_factory=list)
    plain_state: list[tuple[str, str]] = field(default_factory=list)  # all but the filters


def valid_column_keys(traits: list[str]) -> set[str]:
    return set(COLUMNS) | {f"trait.{name}" for name in traits}


def account_table(
    *,
    organization: Organization,
    product: Product,
    portfolio: PortfolioHealth,
    state: ExplorerState,
    traits: list[str],
    snapshot_ids: list[int] | None = None,
    snapshot: Snapshot | None = None,
) -> AccountTable:
    custom = frozenset(traits)
    columns = [col for key in state.cols if (col := column_for(key, custom)) is not None]
    tz = organization.tzinfo
    as_of = portfolio.as_of

    ordering = account_ordering(state=state, traits=traits)
    base = account_rows_unsorted(
        product=product,
        as_of=as_of,
        tz=tz,
        state=state,
        snapshot_ids=snapshot_ids,
        by_key=orders_by_account(ordering),
    )
    counts = quick_filter_counts(queryset=base, portfolio=portfolio, state=state)
    matching = counts[state.health]
    pages = max(1, math.ceil(matching / PAGE_SIZE))
    page = min(state.page, pages)
    offset = (page - 1) * PAGE_SIZE
    # Sort and cut the page on narrow rows (ids only), then read the 50 whole rows.
    # (account_id, not id: the explorer indexes carry it, so the cut needs no heap.)
    page_rows = account_organization_named(
        health_filter(base, state), organization_id=organization.pk, ordering=ordering
    )
    page_ids = page_rows.order_by(*ordering).values("account_id")
    records = list(
        AccountHealth.objects.filter(
            product=product, as_of=as_of, account_id__in=page_ids[offset : offset + PAGE_SIZE]
        )
        .select_related("account")
        .order_by(*ordering)
    )

    rows = []
    for record in records:
        href = _account_href(organization, product, record.account.external_id)
        cells = [(col.key, col.cell(record, tz)) for col in columns]
        if href:  # the account's name opens its drill-down
            cells = [(k, replace(c, href=href) if k == "name" else c) for k, c in cells]
        rows.append(Row(account_id=record.account.external_id, href=href, cells=cells))
    return AccountTable(
        state=state,
        quick_filters=[
            QuickFilter(
                key=key,
                label=label,
                count=fmt.integer(counts[key]),
                url=state.url(health=key),
                active=key == state.health,
            )
            for key, (label, _) in QUICK_FILTERS.items()
        ],
        headers=[_header(col, state) for col in columns],
        rows=rows,
        matching=matching,
        range_text=(
            f"{fmt.integer(offset + 1)}–{fmt.integer(offset + len(records))} of "
            f"{fmt.integer(matching)} accounts"
            if records
            else "0 accounts"
        ),
        page=page,
        pages=pages,
        previous_url=state.url(page=page - 1) if page > 1 else "",
        next_url=state.url(page=page + 1) if page < pages else "",
        last_seen_chip=state.url(last_seen="all") if state.last_seen == "30d" else "",
        last_seen_restore=state.url(last_seen="30d") if state.last_seen != "30d" else "",
        chooser=_chooser(state, traits),
        hidden_inputs=[(name, value) for name, value in state.params(page=1) if name != "q"],
        chips=[
            FilterChip(
                name=name,
                value=value,
                label=filter_chip_label(name, value),
                remove_url=state.url(filters=tuple(p for p in state.filters if p != (name, value))),
            )
            for name, value in state.filters
        ],
        snapshot=snapshot,
        export_url=state.query_string(page=1),
        export_all_url="&".join(filter(None, [state.query_string(page=1), "all=1"])),
        bookmark_query=state.query_string(page=1, snapshot=0),
        filter_fields=filter_fields(state),
        plain_state=state.params(page=1, filters=()),
    )


def account_rows_unsorted(
    *,
    product: Product,
    as_of: date,
    tz: Any,
    state: ExplorerState,
    snapshot_ids: list[int] | None = None,
    by_key: bool = False,
) -> QuerySet:
    """The rows the view's search, last-seen and advanced filters (and a snapshot) keep,
    before the quick filter: the table, its counts and the CSV export all start here.
    `by_key` when the rows are sorted by an account column (filters.account_matches)."""
    queryset = AccountHealthFilter(
        data=state.filter_data(),
        queryset=AccountHealth.objects.filter(product=product, as_of=as_of),
        window_start=window_start(as_of, tz),
        product_id=product.pk,
        by_key=by_key,
    ).qs
    if snapshot_ids is not None:
        queryset = queryset.filter(account_id__in=snapshot_ids)
    return queryset


def account_organization_named(
    queryset: QuerySet,
    *,
    organization_id: int,
    ordering: Sequence[Any],
) -> QuerySet:
    """AccountHealth rows with their account's organization named in the query when the
    sort reads the account (name, id, a trait). The account
    indexes lead with the organization (accounts_explorer/migrations/0002): named, the
    join walks the accounts in the sort's order and stops after the page; the policy's
    own condition on the account is a parameter the planner does not match to them."""
    if orders_by_account(list(ordering)):
        return queryset.filter(account__organization_id=organization_id)
    return queryset


def account_ordering(*, state: ExplorerState, traits: list[str]) -> list[Any]:
    sort_column = column_for(state.sort_key, frozenset(traits)) or COLUMNS["active_users"]
    return order_by(sort_column, descending=state.descending)


def orders_by_account(ordering: list[Any]) -> bool:
    """Whether the sort reads the account (name, id, a trait) rather than its health row."""
    return any(
        isinstance(part, F) and part.name.startswith("account__")
        for order in ordering
        for part in order.flatten()
    )


def account_rows(
    *,
    product: Product,
    as_of: date,
    tz: Any,
    state: ExplorerState,
    traits: list[str],
    snapshot_ids: list[int] | None = None,
) -> QuerySet:
    """Every row of the view (quick filter included) in the table's order, unpaged."""
    ordering = account_ordering(state=state, traits=traits)
    base = account_rows_unsorted(
        product=product,
        as_of=as_of,
        tz=tz,
        state=state,
        snapshot_ids=snapshot_ids,
        by_key=orders_by_account(ordering),
    )
    return health_filter(base, state).order_by(*ordering)


def snapshot_for(
    *, organization: Organization, product: Product, user: Any, state: ExplorerState
) -> tuple[ExplorerState, list[int] | None, Snapshot | None]:
    """The frozen bookmark a state names, if the person may see it; otherwise the state
    without it (a private snapshot shared as a link shows the live view instead)."""
    if not state.snapshot:
        return state, None, None
    bookmark = (
        bookmark_get(product=product, user=user, bookmark_id=state.snapshot) if user else None
    )
    if bookmark is None or bookmark.snapshot_account_ids is None:
        return replace(state, snapshot=0), None, None
    ids = [int(i) for i in bookmark.snapshot_account_ids]
    info = Snapshot(
        bookmark_id=bookmark.pk,
        name=bookmark.name,
        accounts=len(ids),
        saved=fmt.day(bookmark.created_at, organization.tzinfo),
        leave_url=state.url(snapshot=0),
    )
    return state, ids, info


def bookmark_url(*, organization: Organization, product: Product, bookmark: Bookmark) -> str:
    """Where opening a bookmark leads: the explorer with the saved view (and snapshot)."""
    query = state_query_from_json(bookmark.state)
    if bookmark.snapshot_account_ids is not None:
        query["snapshot"] = str(bookmark.pk)
    path = reverse("explorer", args=[organization.slug, product.key])
    # `?view=saved` keeps a bookmark of the unfiltered view from re-applying the default.
    return f"{path}?{query.urlencode(safe=',') or 'view=saved'}"


def quick_filter_counts(
    *, queryset: QuerySet, portfolio: PortfolioHealth, state: ExplorerState
) -> dict[str, int]:
    """Accounts per quick filter for the search and last-seen filter. Counting 100,000
    rows costs tens of milliseconds, and sorting, paging or switching the quick filter
    leaves the counts as they are: they are cached per health run."""
    scope = repr((state.q, state.filters, state.snapshot))
    digest = hashlib.sha256(scope.encode()).hexdigest()[:24]
    key = f"explorer:counts:{_run_version(portfolio)}:{state.last_seen}:{digest}"
    counts = cache.get(key)
    if counts is None:
        counts = queryset.aggregate(
            **{
                # count(health): answered from the explorer_health index alone.
                name: Count("health", filter=Q(health=band)) if band else Count("health")
                for name, (_, band) in QUICK_FILTERS.items()
            }
        )
        cache.set(key, counts, COUNTS_CACHE_SECONDS)
    return counts


def _header(col: Column, state: ExplorerState) -> Header:
    active = state.sort_key == col.key
    if active:
        aria_sort = "descending" if state.descending else "ascending"
        next_sort = col.key if state.descending else f"-{col.key}"
    else:
        aria_sort = "none"
        # Numbers open largest first, text A to Z.
        next_sort = f"-{col.key}" if col.numeric else col.key
    return Header(
        key=col.key,
        label=col.label,
        description=col.description,
        url=state.url(sort=next_sort),
        aria_sort=aria_sort,
        numeric=col.numeric,
    )


def _chooser(state: ExplorerState, traits: list[str]) -> list[ChooserItem]:
    """Visible columns first in their order, then the hidden ones; each with the links a
    person without JavaScript uses to show, hide or move it."""
    shown = list(state.cols)
    all_columns = [*COLUMNS.values(), *(trait_column(t, custom=True) for t in traits)]
    by_key = {col.key: col for col in all_columns}
    hidden = [col.key for col in all_columns if col.key not in shown]
    items = []
    for key in [*shown, *hidden]:
        col = by_key.get(key)
        if col is None:
            continue
        checked = key in shown
        if checked:
            toggle = [k for k in shown if k != key] or shown
            index = shown.index(key)
            up = _moved(shown, index, -1)
            down = _moved(shown, index, +1)
        else:
            toggle, up, down = [*shown, key], None, None
        items.append(
            ChooserItem(
                key=key,
                label=col.label,
                group=col.group,
                checked=checked,
                toggle_url=state.url(cols=tuple(toggle), page=state.page),
                up_url=state.url(cols=tuple(up), page=state.page) if up else "",
                down_url=state.url(cols=tuple(down), page=state.page) if down else "",
            )
        )
    return items


def _moved(keys: list[str], index: int, step: int) -> list[str] | None:
    target = index + step
    if not 0 <= target < len(keys):
        return None
    moved = list(keys)
    moved[index], moved[target] = moved[target], moved[index]
    return moved


def _account_href(organization: Organization, product: Product, external_id: str) -> str:
    """The drill-down page, once it exists (accounts_explorer/account_urls.py)."""
    try:
        return reverse("account_detail", args=[organization.slug, product.key, external_id])
    except NoReverseMatch:
        return ""


# ---------------------------------------------------------------- the page


@dataclass(frozen=True)
class ExplorerPage:
    portfolio: PortfolioHealth | None
    settings: HealthSettings | None
    summary: list[SummaryFigure]
    health: list[HealthMetric]
    table: AccountTable | None
    redirect_to: str = ""  # the person's default view, when the URL names none

    @property
    def as_of(self) -> date | None:
        return self.portfolio.as_of if self.portfolio else None


def explorer_page(
    *,
    organization: Organization,
    product: Product,
    query: Any,
    sections: frozenset[str],
    user: Any = None,
    apply_default: bool = False,
) -> ExplorerPage:
    """What the explorer shows for a product and the URL's state: only the sections asked
    for ("summary", "health", "table") are read. With `apply_default` (a URL with no
    state at all) the person's default bookmark, if any, is where the page redirects."""
    portfolio = portfolio_latest(product=product, default_for=user if apply_default else None)
    if portfolio is None:
        return ExplorerPage(None, None, [], [], None)
    default_id = getattr(portfolio, "default_bookmark_id", None)
    if default_id:
        bookmark = bookmark_get(product=product, user=user, bookmark_id=default_id)
        if bookmark is not None:
            url = bookmark_url(organization=organization, product=product, bookmark=bookmark)
            return ExplorerPage(portfolio, None, [], [], None, redirect_to=url)
    settings = health_settings_read(product=product) if sections - {"table"} else None
    table = None
    if "table" in sections:
        traits = custom_traits(product=product, portfolio=portfolio)
        state = explorer_state_from(query, valid_columns=valid_column_keys(traits))
        state, snapshot_ids, snapshot = snapshot_for(
            organization=organization, product=product, user=user, state=state
        )
        table = account_table(
            organization=organization,
            product=product,
            portfolio=portfolio,
            state=state,
            traits=traits,
            snapshot_ids=snapshot_ids,
            snapshot=snapshot,
        )
    return ExplorerPage(
        portfolio=portfolio,
        settings=settings,
        summary=summary_figures(summary=portfolio.summary) if "summary" in sections else [],
        health=(
            health_metrics(summary=portfolio.summary, settings=settings)
            if settings is not None and "health" in sections
            else []
        ),
        table=table,
    )
