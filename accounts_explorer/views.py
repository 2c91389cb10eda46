from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
def explorer(request: HttpRequest, org_slug: str, product_key: str) -> HttpResponse:
    return render(request, "accounts_explorer/explorer.html")
