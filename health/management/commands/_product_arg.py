from __future__ import annotations

from datetime import date, timedelta

from django.core.management.base import CommandError
from django.utils import timezone

from vitals.tenancy.models import Organization, Product
from vitals.tenancy.selectors import product_in_scope


def resolve_product(org: str, product: str) -> Product:
    organization = Organization.objects.filter(slug=org).first()
    if organization is None:
        raise CommandError(f"No organization with slug {org!r}")
    product_obj = product_in_scope(organization=organization, key=product)
    if product_obj is None:
        raise CommandError(f"No product {product!r} in organization {org!r}")
    return product_obj


def resolve_as_of(value: str | None, product: Product) -> date:
    """--as-of, or yesterday in the organization's time zone (SPEC section 4)."""
    if value is None:
        return timezone.now().astimezone(product.organization.tzinfo).date() - timedelta(days=1)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--as-of must be YYYY-MM-DD, got {value!r}") from exc
