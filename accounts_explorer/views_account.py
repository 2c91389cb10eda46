"""The account drill-down and user pages. Views parse, look up within the tenant in the
URL (unknown and foreign ids both 404), call one selector and render."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from accounts_explorer.selectors_account import DrilldownOptions, account_drilldown
from accounts_explorer.selectors_user import user_activity

# The drill-down's swap target: its lists re-render together so every toggle's href
# keeps the other lists' state.
LISTS_TARGET = "account-lists"


def _partial_wanted(request: HttpRequest, target: str) -> bool:
    htmx = getattr(request, "htmx", None)
    # A history restore after a cache miss needs the whole page, not the fragment.
    return bool(htmx) and not htmx.history_restore_request and htmx.target == target


@require_GET
def account_detail(
    request: HttpRequest, org_slug: str, product_key: str, account_id: str
) -> HttpResponse:
    options = DrilldownOptions.from_query(request.GET)
    drilldown = account_drilldown(product=request.product, account_id=account_id, options=options)
    if drilldown is None:
        raise Http404("No such account.")
    template = "accounts_explorer/account.html"
    if _partial_wanted(request, LISTS_TARGET):
        template += "#lists"
    context = {
        "d": drilldown,
        "options": options,
        "links": options.links(),
        "users_hidden": options.hidden_fields(without="uq"),
        "zero_hidden": options.hidden_fields(without="zq"),
    }
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


@require_GET
def user_detail(
    request: HttpRequest, org_slug: str, product_key: str, user_id: str
) -> HttpResponse:
    page = user_activity(
        organization=request.organization, product=request.product, user_id=user_id
    )
    if page is None:
        raise Http404("No such user.")
    return render(request, "accounts_explorer/user.html", {"page": page})
