from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from vitals.tenancy.selectors import memberships_of_user, products_of_organization


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    memberships = memberships_of_user(user=request.user)  # by organization name
    if not memberships:
        return render(request, "tenancy/no_organization.html")
    return redirect("organization_home", org_slug=memberships[0].organization.slug)


@require_GET
@login_required
def organization_home(request: HttpRequest, org_slug: str) -> HttpResponse:
    # The organization's first product (the oldest) is where people land.
    product = (
        products_of_organization(organization=request.organization)
        .order_by("created_at", "pk")
        .first()
    )
    if product is None:
        return render(request, "tenancy/no_product.html")
    return redirect("explorer", org_slug=org_slug, product_key=product.key)


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
