"""Product configuration as code: the `config.json` format of the conformance fixtures.

{"organization": {"name", "slug", "timezone"}, "product": {"name", "key"}, "as_of"?,
 "features": [{"key", "name", "module", "labels", "rules"}],
 "settings": {"core_items", "stickiness", "thresholds": {metric: [lower, upper]}}}
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from health.models import (
    DEFAULT_THRESHOLDS,
    MAX_CORE_ITEMS,
    Feature,
    HealthSettings,
    Module,
    StickinessMode,
)
from vitals.tenancy.models import Organization, Product
from vitals.tenancy.scope import tenant_scope

THRESHOLD_FIELDS = {
    "core_feature_usage": ("cfu_lower", "cfu_upper"),
    "active_user_coverage": ("coverage_lower", "coverage_upper"),
    "stickiness": ("stickiness_lower", "stickiness_upper"),
    "product_score": ("score_lower", "score_upper"),
}
CORE_ITEM_KINDS = ("feature", "module", "label")


class ConfigError(ValueError):
    pass


def module_ancestors(path: str) -> list[str]:
    """'A/B/C' -> ['A', 'A/B', 'A/B/C']."""
    parts = [part for part in path.split("/") if part]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _validate_rule(rule: Any, feature_key: str) -> dict[str, str]:
    if not isinstance(rule, dict) or len(rule) != 1:
        raise ConfigError(f"feature {feature_key!r}: a rule is one of {{event}} or {{page}}")
    ((kind, value),) = rule.items()
    if kind not in ("event", "page") or not isinstance(value, str) or not value:
        raise ConfigError(f"feature {feature_key!r}: bad rule {rule!r}")
    return {kind: value}


def validate_rules(rules: Any, *, feature_key: str) -> list[dict[str, str]]:
    """A feature's match rules, cleaned: at least one, each {"event": name} or {"page": glob}."""
    if not isinstance(rules, list) or not rules:
        raise ConfigError(f"feature {feature_key!r}: give at least one match rule")
    cleaned: list[dict[str, str]] = []
    for rule in rules:
        valid = _validate_rule(rule, feature_key)
        if valid not in cleaned:
            cleaned.append(valid)
    return cleaned


def validate_core_items(items: Any) -> list[dict[str, str]]:
    if not isinstance(items, list):
        raise ConfigError("core_items must be a list")
    if len(items) > MAX_CORE_ITEMS:
        raise ConfigError(f"at most {MAX_CORE_ITEMS} core items, got {len(items)}")
    cleaned: list[dict[str, str]] = []
    for item in items:
        if not isinstance(item, dict) or len(item) != 1:
            raise ConfigError(f"core item {item!r} must name one feature, module or label")
        ((kind, value),) = item.items()
        if kind not in CORE_ITEM_KINDS or not isinstance(value, str) or not value:
            raise ConfigError(f"core item {item!r} must name one feature, module or label")
        if {kind: value} not in cleaned:
            cleaned.append({kind: value})
    return cleaned


def validate_thresholds(thresholds: dict[str, Any]) -> dict[str, tuple[float, float]]:
    cleaned = {}
    for metric, default in DEFAULT_THRESHOLDS.items():
        pair = thresholds.get(metric, default)
        try:
            lower, upper = (float(value) for value in pair)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{metric}: thresholds must be two numbers") from exc
        if not 0 <= lower < upper <= 100:
            raise ConfigError(f"{metric}: need 0 <= lower < upper <= 100, got {lower}, {upper}")
        cleaned[metric] = (lower, upper)
    return cleaned


@transaction.atomic
def config_import(*, data: dict[str, Any], user: Any = None) -> Product:
    """Create or update the organization, product, catalog and settings of a config."""
    try:
        org_data, product_data = data["organization"], data["product"]
        features = data.get("features", [])
        settings_data = data.get("settings", {})
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"config is missing {exc}") from exc

    organization = Organization.objects.filter(slug=org_data["slug"]).first()
    if organization is None:
        organization = Organization(slug=org_data["slug"])
    organization.name = org_data.get("name", organization.name or org_data["slug"])
    organization.timezone = org_data.get("timezone", organization.timezone or "UTC")
    try:
        organization.full_clean()
    except ValidationError as exc:
        raise ConfigError("; ".join(exc.messages)) from exc
    organization.save()

    with tenant_scope(organization):
        product, _ = Product.objects.get_or_create(
            organization=organization,
            key=product_data["key"],
            defaults={"name": product_data.get("name", product_data["key"])},
        )
        product.name = product_data.get("name", product.name)
        product.save()
        _import_catalog(product=product, features=features, user=user)
        _import_settings(product=product, settings_data=settings_data, user=user)
    return product


def _import_catalog(*, product: Product, features: list[dict[str, Any]], user: Any) -> None:
    keys_seen: set[str] = set()
    module_paths: set[str] = set()
    for position, spec in enumerate(features):
        key = spec.get("key")
        if not isinstance(key, str) or not key:
            raise ConfigError(f"feature #{position + 1} has no key")
        if key in keys_seen:
            raise ConfigError(f"feature key {key!r} appears twice")
        keys_seen.add(key)
        rules = [_validate_rule(rule, key) for rule in spec.get("rules", [])]
        module_path = "/".join(module_ancestors(spec.get("module", ""))[-1:])
        module_paths.update(module_ancestors(module_path))
        Feature.objects.update_or_create(
            organization_id=product.organization_id,
            product=product,
            key=key,
            defaults={
                "name": spec.get("name", key),
                "module_path": module_path,
                "labels": [str(label) for label in spec.get("labels", [])],
                "rules": rules,
                "position": position,
                "updated_by": user,
            },
        )
    Feature.objects.filter(product=product).exclude(key__in=keys_seen).delete()
    existing = set(Module.objects.filter(product=product).values_list("path", flat=True))
    Module.objects.bulk_create(
        Module(organization_id=product.organization_id, product=product, path=path, updated_by=user)
        for path in sorted(module_paths - existing)
    )
    Module.objects.filter(product=product).exclude(path__in=module_paths).delete()


def _import_settings(*, product: Product, settings_data: dict[str, Any], user: Any) -> None:
    health_settings = health_settings_for(product=product)
    health_settings.core_items = validate_core_items(settings_data.get("core_items", []))
    mode = settings_data.get("stickiness", health_settings.stickiness_mode)
    if mode not in StickinessMode.values:
        raise ConfigError(f"stickiness must be one of {StickinessMode.values}, got {mode!r}")
    health_settings.stickiness_mode = mode
    for metric, (lower, upper) in validate_thresholds(settings_data.get("thresholds", {})).items():
        lower_field, upper_field = THRESHOLD_FIELDS[metric]
        setattr(health_settings, lower_field, lower)
        setattr(health_settings, upper_field, upper)
    health_settings.updated_by = user
    health_settings.save()


def health_settings_for(*, product: Product) -> HealthSettings:
    health_settings, _ = HealthSettings.objects.get_or_create(
        organization_id=product.organization_id, product=product
    )
    return health_settings


def config_export(*, product: Product) -> dict[str, Any]:
    organization = product.organization
    health_settings = health_settings_for(product=product)
    return {
        "organization": {
            "name": organization.name,
            "slug": organization.slug,
            "timezone": organization.timezone,
        },
        "product": {"name": product.name, "key": product.key},
        "features": [
            {
                "key": feature.key,
                "name": feature.name,
                "module": feature.module_path,
                "labels": list(feature.labels),
                "rules": feature.rules,
            }
            for feature in Feature.objects.filter(product=product).order_by("position", "key")
        ],
        "settings": {
            "core_items": health_settings.core_items,
            "stickiness": health_settings.stickiness_mode,
            "thresholds": {
                metric: [getattr(health_settings, lower), getattr(health_settings, upper)]
                for metric, (lower, upper) in THRESHOLD_FIELDS.items()
            },
        },
    }
