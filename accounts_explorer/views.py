from __future__ import annotations

from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseForbidden,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts_explorer.bookmarks import (
    BookmarkForbidden,
    bookmark_delete,
    bookmark_get,
    bookmark_list,
    bookmark_save_view,
    bookmark_set_default,
    bookmark_update,
)
from accounts_explorer.exports import account_export
from accounts_explorer.models import Bookmark
from accounts_explorer.selectors import bookmark_url, explorer_page

TEMPLATE = "accounts_explorer/explorer.html"
# htmx names the element it swaps (HX-Target); each swap target is one partial.
PARTIALS = {
    "explorer-table": ("table", frozenset({"table"})),
    "explorer-summary": ("summary", frozenset({"summary"})),
    "explorer-health": ("health", frozenset({"health"})),
}
FULL_PAGE = frozenset({"summary", "health", "table"})
ACTIONS = frozenset({"rename", "delete", "default"})


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
        user=request.user,
        # A URL with no state at all opens the person's default bookmark, if any.
        apply_default=not htmx and not request.META.get("QUERY_STRING"),
    )
    if page.redirect_to:
        return redirect(page.redirect_to)
    response = render(request, template, {"page": page, "table": page.table})
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


@require_GET
def export_csv(request: HttpRequest, org_slug: str, product_key: str) -> StreamingHttpResponse:
    """The table's view as CSV (?all=1: every column; ?bom=1: a BOM for Excel)."""
    export = account_export(
        organization=request.organization,  # type: ignore[attr-defined]
        product=request.product,  # type: ignore[attr-defined]
        user=request.user,
        query=request.GET,
        all_columns=request.GET.get("all") == "1",
        bom=request.GET.get("bom") == "1",
    )
    response = StreamingHttpResponse(export.chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


# ---------------------------------------------------------------- bookmarks


def _bookmark_for(request: HttpRequest, bookmark_id: int) -> Bookmark:
    """A bookmark the person may see in this product, else 404 (missing or private)."""
    bookmark = bookmark_get(
        product=request.product,  # type: ignore[attr-defined]
        user=request.user,
        bookmark_id=bookmark_id,
    )
    if bookmark is None:
        raise Http404("No such bookmark.")
    return bookmark


def _bookmarks_panel(request: HttpRequest, *, view: str, message: str = "") -> HttpResponse:
    product = request.product  # type: ignore[attr-defined]
    context = {
        "bookmarks": list(bookmark_list(product=product, user=request.user)),
        "view": view,
        "message": message,
        "explorer_url": reverse("explorer", args=[request.organization.slug, product.key]),  # type: ignore[attr-defined]
    }
    template = "_bookmarks.html" if request.htmx else "_bookmarks_page.html"  # type: ignore[attr-defined]
    response = render(request, f"accounts_explorer/{template}", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _after_write(request: HttpRequest, message: str) -> HttpResponse:
    view = request.POST.get("view", "")
    if request.htmx:  # type: ignore[attr-defined]
        return _bookmarks_panel(request, view=view, message=message)
    url = reverse("bookmarks", args=[request.organization.slug, request.product.key])  # type: ignore[attr-defined]
    return redirect(f"{url}?{view}" if view else url)


@require_http_methods(["GET", "POST"])
def bookmarks(request: HttpRequest, org_slug: str, product_key: str) -> HttpResponse:
    """GET: the bookmarks panel (the query string is the view to save). POST: save it."""
    if request.method == "GET":
        return _bookmarks_panel(request, view=request.GET.urlencode())
    bookmark = bookmark_save_view(
        organization=request.organization,  # type: ignore[attr-defined]
        product=request.product,  # type: ignore[attr-defined]
        owner=request.user,
        name=request.POST.get("name", ""),
        shared=request.POST.get("shared") == "1",
        freeze=request.POST.get("freeze") == "1",
        view=QueryDict(request.POST.get("view", "")),
    )
    return _after_write(request, f"Saved “{bookmark.name}”.")


@require_GET
def bookmark_open(
    request: HttpRequest, org_slug: str, product_key: str, bookmark_id: int
) -> HttpResponse:
    bookmark = _bookmark_for(request, bookmark_id)
    return redirect(
        bookmark_url(
            organization=request.organization,  # type: ignore[attr-defined]
            product=request.product,  # type: ignore[attr-defined]
            bookmark=bookmark,
        )
    )


@require_POST
def bookmark_change(
    request: HttpRequest, org_slug: str, product_key: str, bookmark_id: int, action: str
) -> HttpResponse:
    """rename (name, shared), delete, default (default=1 or 0): the owner's writes."""
    if action not in ACTIONS:
        raise Http404("No such action.")
    bookmark = _bookmark_for(request, bookmark_id)
    try:
        if action == "rename":
            shared = request.POST.get("shared")
            bookmark_update(
                bookmark=bookmark,
                user=request.user,
                name=request.POST.get("name"),
                shared=None if shared is None else shared == "1",
            )
            message = f"Saved “{bookmark.name}”."
        elif action == "delete":
            bookmark_delete(bookmark=bookmark, user=request.user)
            message = f"Deleted “{bookmark.name}”."
        else:
            default = request.POST.get("default") == "1"
            bookmark_set_default(bookmark=bookmark, user=request.user, default=default)
            message = f"“{bookmark.name}” is {'now' if default else 'no longer'} your default view."
    except BookmarkForbidden:
        return HttpResponseForbidden("Only the bookmark's owner can change it.")
    return _after_write(request, message)
