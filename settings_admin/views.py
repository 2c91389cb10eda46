"""Admin pages of an organization; a product's pages are in views_product and views_catalog.
The tenant middleware 404s non-members; admin_required 403s members. Every write is a POST
to its own URL calling one service."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from settings_admin import selectors, services_organization
from settings_admin.forms import MemberAddForm, RoleForm, TimezoneForm, WriteKeyForm
from settings_admin.services import AdminError
from vitals.tenancy.decorators import admin_required
from vitals.tenancy.models import Membership, Product, WriteKey

UNPROCESSABLE = 422


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


# --- organization --------------------------------------------------------------------------


def _organization_page(request: HttpRequest, status: int = 200, **extra: object) -> HttpResponse:
    context = selectors.organization_overview(organization=request.organization)
    context.setdefault("member_form", MemberAddForm())
    context["write_key_form"] = WriteKeyForm(products=context["products"])
    context["timezone_form"] = TimezoneForm(initial={"timezone": request.organization.timezone})
    context.update(extra)
    return render(request, "settings_admin/home.html", context, status=status)


@require_GET
@admin_required
def settings_home(request: HttpRequest, org_slug: str) -> HttpResponse:
    return _organization_page(request)


@require_POST
@admin_required
def member_add(request: HttpRequest, org_slug: str) -> HttpResponse:
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            membership, new_user = services_organization.member_add(
                organization=request.organization,
                actor=request.user,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
            )
        except AdminError as exc:
            form.add_error("email", str(exc))
        else:
            name = membership.user.get_username()
            if new_user:
                messages.success(
                    request,
                    f"Added {name} as {membership.get_role_display()}. This is a new user with "
                    "no password yet: they can log in once one is set "
                    "(manage.py create_user).",
                )
            else:
                messages.success(request, f"Added {name} as {membership.get_role_display()}.")
            return redirect("settings_home", org_slug=org_slug)
    return _organization_page(request, status=UNPROCESSABLE, member_form=form)


@require_POST
@admin_required
def member_role(request: HttpRequest, org_slug: str, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Pick a role.")
        return redirect("settings_home", org_slug=org_slug)
    try:
        services_organization.membership_role_change(
            membership=membership, actor=request.user, role=form.cleaned_data["role"]
        )
    except AdminError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"{membership.user.get_username()} is now {membership.get_role_display()}."
        )
    return redirect("settings_home", org_slug=org_slug)


@require_POST
@admin_required
def member_remove(request: HttpRequest, org_slug: str, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=membership_id)
    try:
        services_organization.membership_remove(membership=membership, actor=request.user)
    except AdminError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Removed {membership.user.get_username()}.")
    return redirect("settings_home", org_slug=org_slug)


@require_POST
@admin_required
def write_key_create(request: HttpRequest, org_slug: str) -> HttpResponse:
    products = Product.objects.order_by("name")
    form = WriteKeyForm(request.POST, products=products)
    if not form.is_valid():
        messages.error(request, "Pick a product for the write key.")
        return redirect("settings_home", org_slug=org_slug)
    product = get_object_or_404(Product.objects, key=form.cleaned_data["product"])
    write_key, raw_key = services_organization.write_key_issue(
        product=product, actor=request.user, label=form.cleaned_data["label"]
    )
    # Rendered, not redirected: the secret is on this response and nowhere else.
    response = _organization_page(request, new_write_key=write_key, raw_key=raw_key)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@admin_required
def write_key_revoke(request: HttpRequest, org_slug: str, write_key_id: int) -> HttpResponse:
    write_key = get_object_or_404(WriteKey.objects.select_related("product"), pk=write_key_id)
    services_organization.write_key_withdraw(write_key=write_key, actor=request.user)
    messages.success(request, f"Revoked the write key {write_key.prefix}….")
    return redirect("settings_home", org_slug=org_slug)


@require_POST
@admin_required
def timezone_update(request: HttpRequest, org_slug: str) -> HttpResponse:
    form = TimezoneForm(request.POST)
    if form.is_valid():
        try:
            runs = services_organization.organization_timezone_set(
                organization=request.organization,
                actor=request.user,
                timezone_name=form.cleaned_data["timezone"],
            )
        except AdminError as exc:
            form.add_error("timezone", str(exc))
        else:
            if runs:
                messages.success(
                    request,
                    f"Time zone set to {request.organization.timezone}: health is being "
                    "recomputed in full for every product.",
                )
            return redirect("settings_home", org_slug=org_slug)
    return _organization_page(request, status=UNPROCESSABLE, timezone_form=form)


@require_GET
@admin_required
def audit_log(request: HttpRequest, org_slug: str) -> HttpResponse:
    context = selectors.audit_page(page=_page_number(request))
    return render(request, "settings_admin/audit.html", context)


@require_GET
@admin_required
def quarantine(request: HttpRequest, org_slug: str) -> HttpResponse:
    context = selectors.quarantine_page(
        product_key=request.GET.get("product", ""),
        reason=request.GET.get("reason", ""),
        page=_page_number(request),
    )
    return render(request, "settings_admin/quarantine.html", context)


@require_GET
@admin_required
def health_runs(request: HttpRequest, org_slug: str) -> HttpResponse:
    context = selectors.health_runs_page(page=_page_number(request))
    return render(request, "settings_admin/health_runs.html", context)
