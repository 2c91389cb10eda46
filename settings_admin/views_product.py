"""Account settings of a product: core items, thresholds, stickiness, the run status and
the configuration as code."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from health.catalog import ConfigError, config_export
from settings_admin import selectors, services
from settings_admin.forms import ConfigImportForm, HealthSettingsForm
from settings_admin.views import UNPROCESSABLE
from vitals.tenancy.decorators import admin_required
from vitals.tenancy.models import Product

# --- account settings (per product) --------------------------------------------------------


def _first_product_redirect(request: HttpRequest, url_name: str) -> HttpResponse:
    product = Product.objects.order_by("name").first()
    if product is None:
        raise Http404("No products yet.")
    return redirect(url_name, org_slug=request.organization.slug, product_key=product.key)


@require_GET
@admin_required
def account_settings_home(request: HttpRequest, org_slug: str) -> HttpResponse:
    return _first_product_redirect(request, "account_settings")


@require_GET
@admin_required
def catalog_home(request: HttpRequest, org_slug: str) -> HttpResponse:
    return _first_product_redirect(request, "catalog")


def _account_settings_page(
    request: HttpRequest, form: HealthSettingsForm, status: int = 200
) -> HttpResponse:
    context = selectors.account_settings_page(product=request.product)
    context["form"] = form
    context["metric_rows"] = form.metric_rows()
    context["core_rows"] = selectors.core_item_rows(
        items=form.fields["core_items"].to_python(form.posted_core_tokens()),
        features=context["features_by_key"],
    )
    context["import_form"] = ConfigImportForm()
    return render(request, "settings_admin/account_settings.html", context, status=status)


@require_GET
@admin_required
def account_settings(request: HttpRequest, org_slug: str, product_key: str) -> HttpResponse:
    health_settings = selectors.health_settings_for(product=request.product)
    form = HealthSettingsForm(initial=HealthSettingsForm.initial_from(health_settings))
    return _account_settings_page(request, form)


@require_POST
@admin_required
def account_settings_save(request: HttpRequest, org_slug: str, product_key: str) -> HttpResponse:
    form = HealthSettingsForm(request.POST)
    if form.is_valid():
        try:
            run = services.health_settings_update(
                product=request.product,
                user=request.user,
                core_items=form.cleaned_data["core_items"],
                stickiness_mode=form.cleaned_data["stickiness_mode"],
                thresholds=form.thresholds(),
            )
        except ConfigError as exc:
            form.add_error(None, str(exc))
        else:
            if run is None:
                messages.info(request, "Nothing changed.")
            else:
                messages.success(request, "Settings saved: account health is being recomputed.")
            return redirect("account_settings", org_slug=org_slug, product_key=product_key)
    return _account_settings_page(request, form, status=UNPROCESSABLE)


@require_GET
@admin_required
@vary_on_headers("HX-Request")
def run_status(request: HttpRequest, org_slug: str, product_key: str) -> HttpResponse:
    context = {"run": selectors.latest_run(product=request.product)}
    return render(request, "settings_admin/account_settings.html#run_status", context)


@require_GET
@admin_required
def config_download(request: HttpRequest, org_slug: str, product_key: str) -> HttpResponse:
    response = JsonResponse(config_export(product=request.product), json_dumps_params={"indent": 2})
    filename = f"{request.organization.slug}-{request.product.key}-config.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_POST
@admin_required
def config_upload(request: HttpRequest, org_slug: str, product_key: str) -> HttpResponse:
    form = ConfigImportForm(request.POST, request.FILES)
    error = "Choose a config.json file."
    if form.is_valid():
        try:
            data = json.loads(form.cleaned_data["config"].read())
            services.product_config_import(product=request.product, user=request.user, data=data)
        except (ValueError, UnicodeDecodeError) as exc:  # ConfigError and bad JSON
            error = f"Import refused, nothing changed: {exc}"
        else:
            messages.success(request, "Configuration imported: account health is being recomputed.")
            return redirect("account_settings", org_slug=org_slug, product_key=product_key)
    messages.error(request, error)
    return redirect("account_settings", org_slug=org_slug, product_key=product_key)
