"""Reads for tenancy. The membership lookups here are what the scoping middleware trusts.

The membership and write-key lookups happen before any scope exists, so they go through
SECURITY DEFINER functions (migration 0004), not past row-level security.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils.functional import SimpleLazyObject

from vitals.tenancy.definer import definer_rows, instance_from, organization_from
from vitals.tenancy.models import Membership, Organization, Product, WriteKey, hash_write_key
from vitals.tenancy.scope import tenant_scope


def _membership(user: AbstractBaseUser, row: tuple[Any, ...]) -> Membership:
    membership_id, role, *organization = row
    membership = instance_from(
        Membership, id=membership_id, organization_id=organization[0], user_id=user.pk, role=role
    )
    membership.organization = organization_from(*organization)
    membership.user = user
    return membership


def membership_for(*, user: AbstractBaseUser, organization_slug: str) -> Membership | None:
    # Membership is the access-control table itself, so it is read before a scope exists.
    rows = definer_rows("vitals_membership_for", user.pk, organization_slug)
    return _membership(user, rows[0]) if rows else None


def memberships_of_user(*, user: AbstractBaseUser) -> Sequence[Membership]:
    """A person's memberships across organizations, by organization name: the switcher
    and the landing page. Lazy: read once, when first used (a partial never is)."""

    def read() -> list[Membership]:
        rows = definer_rows("vitals_memberships_of_user", user.pk)
        return [_membership(user, row) for row in rows]

    return SimpleLazyObject(read)  # type: ignore[return-value]


def products_of_organization(*, organization: Organization) -> QuerySet[Product]:
    return Product.dangerously_unscoped.filter(organization=organization).order_by("name")


def product_in_scope(*, organization: Organization, key: str) -> Product | None:
    with tenant_scope(organization):
        product = Product.objects.filter(key=key).first()
    if product is not None:
        product.organization = organization  # known already: no query when code asks for it
    return product


def write_key_lookup(*, raw_key: str) -> WriteKey | None:
    """The active write key with this secret, with its product and organization."""
    # The key decides the organization: it is read before any scope exists.
    rows = definer_rows("vitals_write_key_lookup", hash_write_key(raw_key))
    if not rows:
        return None
    key_id, product_id, product_key, product_name, *organization_row = rows[0]
    organization = organization_from(*organization_row)
    product = instance_from(
        Product, id=product_id, organization_id=organization.pk, key=product_key, name=product_name
    )
    product.organization = organization
    write_key = instance_from(
        WriteKey, id=key_id, organization_id=organization.pk, product_id=product_id
    )
    write_key.product, write_key.organization = product, organization
    return write_key
