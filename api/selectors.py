"""Reads for the REST API. Every number comes from the engine's rollups, the same rows
the explorer, its CSV export and `export_health` read; the accounts list reuses the
explorer's FilterSet, URL state parser and sort orders, so a query string means the
same rows in the API as on the page."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404, QueryDict

from accounts_explorer.filters import (
    AccountHealthFilter,
    explorer_state_from,
    health_filter,
    window_start,
)
from accounts_explorer.selectors import (
    account_ordering,
    account_organization_named,
    custom_traits,
    orders_by_account,
    portfolio_latest,
    valid_column_keys,
)
from health.models import AccountHealth, PortfolioHealth
from health.selectors import drilldown_lists
from ingestion.models import Account
from vitals.tenancy.models import Organization, Product


def product_list() -> QuerySet[Product]:
    return Product.objects.order_by("key")


def product_get(*, key: str) -> Product:
    """The product with this key in the organization in scope; other tenants' are 404."""
    product = Product.objects.filter(key=key).first()
    if product is None:
        raise Http404("No such product.")
    return product


def portfolio_get(*, product: Product) -> PortfolioHealth:
    portfolio = portfolio_latest(product=product)
    if portfolio is None:
        raise Http404("No health computed for this product yet.")
    return portfolio


def account_health_list(
    *, organization: Organization, product: Product, query: QueryDict
) -> QuerySet[AccountHealth]:
    """The explorer's table rows for the same query string (filters, quick filter, sort),
    as of the product's latest computed day, without the explorer's paging."""
    portfolio = portfolio_get(product=product)
    traits = custom_traits(product=product, portfolio=portfolio)
    state = explorer_state_from(query, valid_columns=valid_column_keys(traits))
    # The FilterSet gets the whole query with the state's normalised values, so filters
    # the explorer adds to it apply here too.
    data = query.copy()
    data["q"] = state.q
    data["last_seen"] = state.last_seen
    ordering = account_ordering(state=state, traits=traits)
    queryset = AccountHealthFilter(
        data=data,
        queryset=AccountHealth.objects.filter(product=product, as_of=portfolio.as_of),
        window_start=window_start(portfolio.as_of, organization.tzinfo),
        product_id=product.pk,
        by_key=orders_by_account(ordering),
    ).qs
    return (
        account_organization_named(
            health_filter(queryset, state),
            organization_id=organization.pk,
            ordering=ordering,
        )
        .select_related("account")
        .order_by(*ordering)
    )


def account_get(*, account_id: str) -> Account:
    account = Account.objects.filter(external_id=account_id).first()
    if account is None:
        raise Http404("No such account.")
    return account


def account_health_get(*, product: Product, account_id: str) -> AccountHealth:
    """The account's row of the latest computed day, with its drill-down lists."""
    portfolio = portfolio_get(product=product)
    row = (
        AccountHealth.objects.filter(
            product=product, as_of=portfolio.as_of, account=account_get(account_id=account_id)
        )
        .select_related("account")
        .first()
    )
    if row is None:
        raise Http404("No health for this account on the latest day.")
    row.drilldown = drilldown_lists(product=product, as_of=row.as_of, account_pks=[row.account_id])[
        row.account_id
    ]
    return row


def account_health_history(*, product: Product, account_id: str) -> QuerySet[AccountHealth]:
    """The account's KPI rows, one per computed as-of day, newest first."""
    account = account_get(account_id=account_id)
    return (
        AccountHealth.objects.filter(product=product, account=account)
        .select_related("account")
        .order_by("-as_of")
    )
