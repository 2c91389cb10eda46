from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from accounts_explorer.selectors import explorer_page

TEMPLATE = "accounts_explorer/explorer.html"
# htmx names the element it swaps (HX-Target); each swap target is one partial.
PARTIALS = {
    "explorer-table": ("table", frozenset({"table"})),
    "explorer-summary": ("summary", frozenset({"summary"})),
    "explorer-health": ("health", frozenset({"health"})),
}
FULL_PAGE = frozenset({"summary", "health", "table"})


@require_GET
def explorer(request: HttpRequest, org_slug: str, product_key: str) -> HttpResponse:
    """The Accounts Explorer: the whole page, or the one partial an htmx request swaps."""
    template, sections = TEMPLATE, FULL_PAGE
    htmx = request.htmx  # type: ignore[attr-defined]
    if htmx and not htmx.history_restore_request and htmx.target in PARTIALS:
        partial, sections = PARTIALS[htmx.target]
        template = f"{TEMPLATE}#{partial}"
    page = explorer_page(
        organization=request.organization,  # type: ignore[attr-defined]
        product=request.product,  # type: ignore[attr-defined]
        query=request.GET,
        sections=sections,
    )
    response = render(request, template, {"page": page, "table": page.table})
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response
