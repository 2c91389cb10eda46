"""Reads for the admin pages; every queryset is scoped to the organization in scope."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, QuerySet

from health.models import HealthRun
from ingestion.models import RejectedMessage
from vitals.tenancy.models import Membership, Organization, Product, WriteKey

PAGE_SIZE = 50


def organization_overview(*, organization: Organization) -> dict[str, Any]:
    """Members, products and write keys of the organization in scope."""
    return {
        "memberships": Membership.objects.select_related("user").order_by("user__username"),
        "products": Product.objects.order_by("name"),
        "write_keys": WriteKey.objects.select_related("product").order_by("-created_at"),
    }


def quarantine_page(*, product_key: str = "", reason: str = "", page: int = 1) -> dict[str, Any]:
    """Rejected messages, newest first, filtered by product and reason; reasons with counts."""
    messages: QuerySet[RejectedMessage] = RejectedMessage.objects.select_related("product")
    if product_key:
        messages = messages.filter(product__key=product_key)
    reasons = (
        messages.values("reason").annotate(count=Count("id")).order_by("-count", "reason")[:50]
    )
    if reason:
        messages = messages.filter(reason=reason)
    paginator = Paginator(messages.order_by("-received_at", "-id"), PAGE_SIZE)
    page_obj: Page = paginator.get_page(page)
    return {
        "page": page_obj,
        "reasons": list(reasons),
        "products": Product.objects.order_by("name"),
        "selected_product": product_key,
        "selected_reason": reason,
    }


def health_runs_page(*, page: int = 1) -> dict[str, Any]:
    runs = HealthRun.objects.select_related("product").order_by("-queued_at", "-id")
    return {"page": Paginator(runs, PAGE_SIZE).get_page(page)}
