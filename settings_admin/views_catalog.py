"""The feature catalog of a product: modules tree, features, rule preview, unmapped
activity."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from health.models import Feature, Module
from settings_admin import selectors, services_catalog
from settings_admin.forms import FeatureForm, FeatureMoveForm, ModuleForm, rules_from
from settings_admin.services import AdminError
from settings_admin.views import UNPROCESSABLE
from vitals.tenancy.decorators import admin_required

# --- feature catalog -----------------------------------------------------------------------


@require_GET
@admin_required
def catalog(request: HttpRequest, org_slug: str, product_key: str) -> HttpResponse:
    context = selectors.catalog_page(product=request.product)
    context["module_form"] = ModuleForm()
    return render(request, "settings_admin/catalog.html", context)


def _feature_page(
    request: HttpRequest,
    form: FeatureForm,
    rules: list[dict[str, str]],
    feature: Feature | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "form": form,
        "feature": feature,
        "rule_rows": [
            {"kind": kind, "value": value} for rule in rules for kind, value in rule.items()
        ]
        or [{"kind": "event", "value": ""}],
        "module_paths": [
            row["path"] for row in selectors.catalog_tree(product=request.product) if row["path"]
        ],
        "preview": selectors.rule_preview(product=request.product, rules=rules),
    }
    return render(request, "settings_admin/feature_form.html", context, status=status)


@require_GET
@admin_required
def feature_new(request: HttpRequest, org_slug: str, product_key: str) -> HttpResponse:
    """The create form; ?event=Name or ?page=/path prefill it from unmapped activity."""
    initial, rules = {}, []
    for kind in ("event", "page"):
        value = request.GET.get(kind, "").strip()
        if value:
            rules = [{kind: value}]
            initial = {"key": services_catalog.feature_key_suggest(value), "name": value}
    return _feature_page(request, FeatureForm(initial=initial), rules)


@require_POST
@admin_required
def feature_create(request: HttpRequest, org_slug: str, product_key: str) -> HttpResponse:
    form, rules = FeatureForm(request.POST), rules_from(request.POST)
    if form.is_valid():
        try:
            feature = services_catalog.feature_create(
                product=request.product,
                user=request.user,
                key=form.cleaned_data["key"],
                name=form.cleaned_data["name"],
                module_path=form.cleaned_data["module_path"],
                labels=form.label_list(),
                rules=rules,
            )
        except AdminError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Feature {feature.name} added.")
            return redirect("catalog", org_slug=org_slug, product_key=product_key)
    return _feature_page(request, form, rules, status=UNPROCESSABLE)


def _feature(request: HttpRequest, feature_id: int) -> Feature:
    return get_object_or_404(Feature.objects.filter(product=request.product), pk=feature_id)


@require_GET
@admin_required
def feature_edit(
    request: HttpRequest, org_slug: str, product_key: str, feature_id: int
) -> HttpResponse:
    feature = _feature(request, feature_id)
    form = FeatureForm(
        editing=True,
        initial={
            "key": feature.key,
            "name": feature.name,
            "module_path": feature.module_path,
            "labels": ", ".join(feature.labels),
        },
    )
    return _feature_page(request, form, list(feature.rules), feature=feature)


@require_POST
@admin_required
def feature_update(
    request: HttpRequest, org_slug: str, product_key: str, feature_id: int
) -> HttpResponse:
    feature = _feature(request, feature_id)
    form = FeatureForm(request.POST, editing=True, initial={"key": feature.key})
    rules = rules_from(request.POST)
    if form.is_valid():
        try:
            services_catalog.feature_update(
                feature=feature,
                user=request.user,
                name=form.cleaned_data["name"],
                module_path=form.cleaned_data["module_path"],
                labels=form.label_list(),
                rules=rules,
            )
        except AdminError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Feature {feature.key} saved.")
            return redirect("catalog", org_slug=org_slug, product_key=product_key)
    return _feature_page(request, form, rules, feature=feature, status=UNPROCESSABLE)


@require_POST
@admin_required
def feature_move(
    request: HttpRequest, org_slug: str, product_key: str, feature_id: int
) -> HttpResponse:
    feature = _feature(request, feature_id)
    form = FeatureMoveForm(request.POST)
    if form.is_valid():
        moved = services_catalog.feature_move(
            feature=feature, user=request.user, module_path=form.cleaned_data["module_path"]
        )
        messages.success(request, f"Moved {moved.key} to {moved.module_path or 'no module'}.")
    return redirect("catalog", org_slug=org_slug, product_key=product_key)


@require_POST
@admin_required
def feature_delete(
    request: HttpRequest, org_slug: str, product_key: str, feature_id: int
) -> HttpResponse:
    feature = _feature(request, feature_id)
    services_catalog.feature_delete(feature=feature, user=request.user)
    messages.success(request, f"Feature {feature.key} deleted.")
    return redirect("catalog", org_slug=org_slug, product_key=product_key)


@require_POST
@admin_required
def module_create(request: HttpRequest, org_slug: str, product_key: str) -> HttpResponse:
    form = ModuleForm(request.POST)
    if form.is_valid():
        try:
            module = services_catalog.module_create(
                product=request.product, user=request.user, path=form.cleaned_data["path"]
            )
        except AdminError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Module {module.path} added.")
    return redirect("catalog", org_slug=org_slug, product_key=product_key)


@require_POST
@admin_required
def module_delete(
    request: HttpRequest, org_slug: str, product_key: str, module_id: int
) -> HttpResponse:
    module = get_object_or_404(Module.objects.filter(product=request.product), pk=module_id)
    try:
        services_catalog.module_delete(module=module, user=request.user)
    except AdminError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Module {module.path} deleted.")
    return redirect("catalog", org_slug=org_slug, product_key=product_key)


@require_GET
@admin_required
@vary_on_headers("HX-Request")
def rule_preview(request: HttpRequest, org_slug: str, product_key: str) -> HttpResponse:
    preview = selectors.rule_preview(product=request.product, rules=rules_from(request.GET))
    return render(request, "settings_admin/feature_form.html#preview", {"preview": preview})
