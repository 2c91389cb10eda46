from __future__ import annotations

from typing import Any

from vitals.tenancy.models import Membership, Organization, Product, WriteKey


def organization_overview(*, organization: Organization) -> dict[str, Any]:
    """Members, products and write keys of the organization in scope."""
    return {
        "memberships": Membership.objects.select_related("user").order_by("user__username"),
        "products": Product.objects.order_by("name"),
        "write_keys": WriteKey.objects.select_related("product").order_by("-created_at"),
    }
