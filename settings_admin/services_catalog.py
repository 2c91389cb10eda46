"""Writes of the feature catalog: features and modules. Each change stamps who made it,
is audited, and enqueues a recompute (the engine maps events to features when it runs)."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q

from health.catalog import ConfigError, health_settings_for, module_ancestors, validate_rules
from health.models import Feature, HealthSettings, Module
from health.services import health_recompute_enqueue
from settings_admin.services import AdminError, audit_record, health_settings_snapshot
from vitals.tenancy.models import Product

FEATURE_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


# --- feature catalog ---------------------------------------------------------------------


def module_path_normalize(path: str) -> str:
    """' Reports / Exports/ ' -> 'Reports/Exports'."""
    parts = [part.strip() for part in path.split("/") if part.strip()]
    return "/".join(parts)


def feature_key_suggest(text: str) -> str:
    """A key for a feature made from an event name or page path: 'Report Exported' ->
    'report_exported', '/reports/*/export' -> 'reports_export'."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:200] or "feature"


def feature_snapshot(feature: Feature) -> dict[str, Any]:
    return {
        "key": feature.key,
        "name": feature.name,
        "module": feature.module_path,
        "labels": list(feature.labels),
        "rules": list(feature.rules),
    }


def _modules_ensure(*, product: Product, path: str, user: AbstractBaseUser | None) -> None:
    """Module rows for a path and its ancestors (the catalog's modules tree)."""
    if not path:
        return
    existing = set(
        Module.objects.filter(product=product, path__in=module_ancestors(path)).values_list(
            "path", flat=True
        )
    )
    Module.objects.bulk_create(
        Module(
            organization_id=product.organization_id, product=product, path=ancestor, updated_by=user
        )
        for ancestor in module_ancestors(path)
        if ancestor not in existing
    )


def _feature_fields(
    *, key: str, name: str, module_path: str, labels: list[str], rules: Any
) -> dict[str, Any]:
    name = name.strip()
    if not name:
        raise AdminError("A feature needs a name.")
    cleaned_labels: list[str] = []
    for label in labels:
        label = label.strip()
        if len(label) > 100:
            raise AdminError("A label has at most 100 characters.")
        if label and label not in cleaned_labels:
            cleaned_labels.append(label)
    try:
        cleaned_rules = validate_rules(rules, feature_key=key)
    except ConfigError as exc:
        raise AdminError(str(exc)) from exc
    return {
        "name": name[:300],
        "module_path": module_path_normalize(module_path),
        "labels": cleaned_labels,
        "rules": cleaned_rules,
    }


@transaction.atomic
def feature_create(
    *,
    product: Product,
    user: AbstractBaseUser | None,
    key: str,
    name: str,
    module_path: str = "",
    labels: list[str] | None = None,
    rules: Any,
) -> Feature:
    key = key.strip()
    if not FEATURE_KEY_RE.match(key) or len(key) > 200:
        raise AdminError("A feature key is letters, digits and _ . : - (at most 200).")
    if Feature.objects.filter(product=product, key=key).exists():
        raise AdminError(f"A feature with the key {key!r} exists already.")
    fields = _feature_fields(
        key=key, name=name, module_path=module_path, labels=labels or [], rules=rules
    )
    last = Feature.objects.filter(product=product).order_by("-position").first()
    feature = Feature.objects.create(
        organization_id=product.organization_id,
        product=product,
        key=key,
        position=(last.position + 1) if last else 0,
        updated_by=user,
        **fields,
    )
    _modules_ensure(product=product, path=feature.module_path, user=user)
    _catalog_changed(
        product=product,
        user=user,
        action="feature.create",
        target=f"feature {key}",
        before=None,
        after=feature_snapshot(feature),
    )
    return feature


@transaction.atomic
def feature_update(
    *,
    feature: Feature,
    user: AbstractBaseUser | None,
    name: str,
    module_path: str,
    labels: list[str],
    rules: Any,
) -> Feature:
    """Edit a feature; its key stays (core items and exports refer to it)."""
    feature = Feature.objects.select_for_update().get(pk=feature.pk)
    before = feature_snapshot(feature)
    fields = _feature_fields(
        key=feature.key, name=name, module_path=module_path, labels=labels, rules=rules
    )
    for field, value in fields.items():
        setattr(feature, field, value)
    after = feature_snapshot(feature)
    if after == before:
        return feature
    feature.updated_by = user
    feature.save()
    _modules_ensure(product=feature.product, path=feature.module_path, user=user)
    _catalog_changed(
        product=feature.product,
        user=user,
        action="feature.update",
        target=f"feature {feature.key}",
        before=before,
        after=after,
    )
    return feature


@transaction.atomic
def feature_move(*, feature: Feature, user: AbstractBaseUser | None, module_path: str) -> Feature:
    """Put a feature in another module (created with its ancestors if new)."""
    feature = Feature.objects.select_for_update().get(pk=feature.pk)
    path = module_path_normalize(module_path)
    if path == feature.module_path:
        return feature
    before = {"module": feature.module_path}
    feature.module_path, feature.updated_by = path, user
    feature.save(update_fields=["module_path", "updated_by", "updated_at"])
    _modules_ensure(product=feature.product, path=path, user=user)
    _catalog_changed(
        product=feature.product,
        user=user,
        action="feature.move",
        target=f"feature {feature.key}",
        before=before,
        after={"module": path},
    )
    return feature


@transaction.atomic
def feature_delete(*, feature: Feature, user: AbstractBaseUser | None) -> None:
    """Delete a feature and the core item naming it (it would otherwise count as an item
    nobody can use, lowering everyone's Core Feature Usage)."""
    product = feature.product
    before = feature_snapshot(feature)
    feature.delete()
    _core_items_drop(product=product, user=user, items=[{"feature": before["key"]}])
    _catalog_changed(
        product=product,
        user=user,
        action="feature.delete",
        target=f"feature {before['key']}",
        before=before,
        after=None,
    )


@transaction.atomic
def module_create(*, product: Product, user: AbstractBaseUser | None, path: str) -> Module:
    path = module_path_normalize(path)
    if not path or len(path) > 500:
        raise AdminError("Give the module a path such as Reports or Reports/Exports.")
    if Module.objects.filter(product=product, path=path).exists():
        raise AdminError(f"The module {path} exists already.")
    _modules_ensure(product=product, path=path, user=user)
    module = Module.objects.get(product=product, path=path)
    _catalog_changed(
        product=product,
        user=user,
        action="module.create",
        target=f"module {path}",
        before=None,
        after={"path": path},
    )
    return module


@transaction.atomic
def module_delete(*, module: Module, user: AbstractBaseUser | None) -> None:
    """Delete an empty module and its empty sub-modules; refuse while features are in it."""
    product, path = module.product, module.path
    in_module = Feature.objects.filter(
        Q(module_path=path) | Q(module_path__startswith=f"{path}/"), product=product
    )
    if in_module.exists():
        raise AdminError(f"The module {path} still has features: move or delete them first.")
    Module.objects.filter(product=product, path=path).delete()
    Module.objects.filter(product=product, path__startswith=f"{path}/").delete()
    health_settings = health_settings_for(product=product)
    _core_items_drop(
        product=product,
        user=user,
        items=[
            item
            for item in health_settings.core_items
            if "module" in item
            and (item["module"] == path or item["module"].startswith(f"{path}/"))
        ],
    )
    _catalog_changed(
        product=product,
        user=user,
        action="module.delete",
        target=f"module {path}",
        before={"path": path},
        after=None,
    )


def _core_items_drop(
    *, product: Product, user: AbstractBaseUser | None, items: list[dict[str, str]]
) -> None:
    if not items:
        return
    health_settings = HealthSettings.objects.select_for_update().filter(product=product).first()
    if health_settings is None:
        return
    kept = [item for item in health_settings.core_items if item not in items]
    if kept == health_settings.core_items:
        return
    before = health_settings_snapshot(health_settings)
    health_settings.core_items, health_settings.updated_by = kept, user
    health_settings.save(update_fields=["core_items", "updated_by", "updated_at"])
    audit_record(
        organization=product.organization,
        product=product,
        user=user,
        action="settings.update",
        target=f"{product.name} settings",
        before={"core_items": before["core_items"]},
        after={"core_items": kept},
    )


def _catalog_changed(
    *,
    product: Product,
    user: AbstractBaseUser | None,
    action: str,
    target: str,
    before: Any,
    after: Any,
) -> None:
    audit_record(
        organization=product.organization,
        product=product,
        user=user,
        action=action,
        target=target,
        before=before,
        after=after,
    )
    health_recompute_enqueue(product=product)
