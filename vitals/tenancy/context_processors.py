from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from vitals.tenancy.selectors import memberships_of_user, products_of_organization


def tenancy(request: HttpRequest) -> dict[str, Any]:
    """The organization and product switchers' choices, for the layout."""
    organization = getattr(request, "organization", None)
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "current_organization": organization,
        "current_product": getattr(request, "product", None),
        "current_membership": getattr(request, "membership", None),
        "switcher_memberships": memberships_of_user(user=request.user),
        "switcher_products": (
            products_of_organization(organization=organization) if organization else []
        ),
    }
