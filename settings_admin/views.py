from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from settings_admin.selectors import health_runs_page, organization_overview, quarantine_page
from vitals.tenancy.decorators import admin_required


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


@require_GET
@admin_required
def settings_home(request: HttpRequest, org_slug: str) -> HttpResponse:
    context = organization_overview(organization=request.organization)
    return render(request, "settings_admin/home.html", context)


@require_GET
@admin_required
def quarantine(request: HttpRequest, org_slug: str) -> HttpResponse:
    context = quarantine_page(
        product_key=request.GET.get("product", ""),
        reason=request.GET.get("reason", ""),
        page=_page_number(request),
    )
    return render(request, "settings_admin/quarantine.html", context)


@require_GET
@admin_required
def health_runs(request: HttpRequest, org_slug: str) -> HttpResponse:
    context = health_runs_page(page=_page_number(request))
    return render(request, "settings_admin/health_runs.html", context)
