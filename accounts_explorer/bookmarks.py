"""Bookmarks: selectors (reads) and services (writes) for saved explorer views.

Visibility: a person sees their own bookmarks and the ones shared with the organization,
for the product in the URL; another person's private bookmark answers as missing.
Only the owner renames, deletes or sets a default.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet

from accounts_explorer.models import Bookmark
from vitals.tenancy.models import Organization, Product

MAX_SNAPSHOT = 100_000
MAX_BOOKMARKS = 200


class BookmarkForbidden(Exception):
    """A visible bookmark someone other than its owner tried to change."""


# ---------------------------------------------------------------- selectors


def bookmark_list(*, product: Product, user: Any) -> QuerySet[Bookmark]:
    """The bookmarks a person sees for a product: their own, then the shared ones."""
    return (
        Bookmark.objects.filter(product=product)
        .filter(Q(owner=user) | Q(shared=True))
        .select_related("owner")
        # The ids can be 100,000 long: the list only needs to know whether there are any.
        .defer("snapshot_account_ids")
        .annotate(
            frozen=ExpressionWrapper(
                Q(snapshot_account_ids__isnull=False), output_field=BooleanField()
            )
        )
        .order_by("name", "id")[:MAX_BOOKMARKS]
    )


def bookmark_get(*, product: Product, user: Any, bookmark_id: int) -> Bookmark | None:
    """A bookmark the person may see, or None (missing and private answer alike)."""
    return (
        Bookmark.objects.filter(product=product, pk=bookmark_id)
        .filter(Q(owner=user) | Q(shared=True))
        .first()
    )


def bookmark_default(*, product: Product, user: Any) -> Bookmark | None:
    return Bookmark.objects.filter(product=product, owner=user, is_default=True).first()


# ---------------------------------------------------------------- services


@transaction.atomic
def bookmark_create(
    *,
    organization: Organization,
    product: Product,
    owner: Any,
    name: str,
    shared: bool,
    state: dict[str, Any],
    snapshot_account_ids: list[int] | None = None,
) -> Bookmark:
    return Bookmark.objects.create(
        organization=organization,
        product=product,
        owner=owner,
        name=name.strip()[:120] or "Untitled view",
        shared=shared,
        state=state,
        snapshot_account_ids=(
            list(snapshot_account_ids[:MAX_SNAPSHOT]) if snapshot_account_ids is not None else None
        ),
    )


def _owned(bookmark: Bookmark, user: Any) -> Bookmark:
    if bookmark.owner_id != user.pk:
        raise BookmarkForbidden(bookmark.pk)
    return bookmark


@transaction.atomic
def bookmark_update(
    *, bookmark: Bookmark, user: Any, name: str | None = None, shared: bool | None = None
) -> Bookmark:
    _owned(bookmark, user)
    if name is not None and name.strip():
        bookmark.name = name.strip()[:120]
    if shared is not None:
        bookmark.shared = shared
    bookmark.save(update_fields=["name", "shared", "updated_at"])
    return bookmark


@transaction.atomic
def bookmark_delete(*, bookmark: Bookmark, user: Any) -> None:
    _owned(bookmark, user).delete()


@transaction.atomic
def bookmark_set_default(*, bookmark: Bookmark, user: Any, default: bool) -> Bookmark:
    """Makes the bookmark the owner's default view of the product (or clears it)."""
    _owned(bookmark, user)
    Bookmark.objects.filter(product_id=bookmark.product_id, owner=user, is_default=True).exclude(
        pk=bookmark.pk
    ).update(is_default=False)
    bookmark.is_default = default
    bookmark.save(update_fields=["is_default", "updated_at"])
    return bookmark


def bookmark_save_view(
    *,
    organization: Organization,
    product: Product,
    owner: Any,
    name: str,
    shared: bool,
    freeze: bool,
    view: Any,
) -> Bookmark:
    """Saves the view a query string describes; with `freeze`, the ids of every account
    it matches now (all pages, quick filter included), read by the table's selector."""
    # selectors imports this module (bookmark_get); the service needs selectors back.
    from accounts_explorer import selectors

    portfolio = selectors.portfolio_latest(product=product)
    traits = selectors.custom_traits(product=product, portfolio=portfolio) if portfolio else []
    state = selectors.explorer_state_from(view, valid_columns=selectors.valid_column_keys(traits))
    state, snapshot_ids, _ = selectors.snapshot_for(
        organization=organization, product=product, user=owner, state=state
    )
    ids: list[int] | None = None
    if freeze:
        ids = []
        if portfolio is not None:
            rows = selectors.account_rows(
                product=product,
                as_of=portfolio.as_of,
                tz=organization.tzinfo,
                state=state,
                traits=traits,
                snapshot_ids=snapshot_ids,
            )
            ids = list(rows.values_list("account_id", flat=True)[:MAX_SNAPSHOT])
    return bookmark_create(
        organization=organization,
        product=product,
        owner=owner,
        name=name,
        shared=shared,
        state=state.as_json(),
        snapshot_account_ids=ids,
    )
