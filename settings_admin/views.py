from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from settings_admin.selectors import organization_overview
from vitals.tenancy.decorators import admin_required


@require_GET
@admin_required
def settings_home(request: HttpRequest, org_slug: str) -> HttpResponse:
    context = organization_overview(organization=request.organization)
    return render(request, "settings_admin/home.html", context)
