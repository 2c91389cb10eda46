"""Reads for tenancy. The membership lookups here are what the scoping middleware trusts."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from vitals.tenancy.models import Membership, Organization, Product, WriteKey, hash_write_key
from vitals.tenancy.scope import tenant_scope


def membership_for(*, user: AbstractBaseUser, organization_slug: str) -> Membership | None:
    # Membership is the access-control table itself, so it is read before a scope exists.
    return (
        Membership.dangerously_unscoped.rls_bypass("membership check")
        .select_related("organization")
        .filter(user=user, organization__slug=organization_slug)
        .first()
    )


def memberships_of_user(*, user: AbstractBaseUser) -> QuerySet[Membership]:
    # A person's organizations, across tenants: the switcher and the landing page.
    return (
        Membership.dangerously_unscoped.rls_bypass("a person's organizations")
        .select_related("organization")
        .filter(user=user)
    )


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
    return (
        # The key decides the organization: it is read before any scope exists.
        WriteKey.dangerously_unscoped.rls_bypass("write key lookup")
        .select_related("product", "organization")
        .filter(key_hash=hash_write_key(raw_key), revoked_at__isnull=True)
        .first()
    )
