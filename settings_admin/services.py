"""Writes of the account settings and the configuration import, and the audit log that
these and services_catalog / services_organization write to. Each change is validated here
(the forms only mirror it), audited, and enqueues the health recompute it makes necessary."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from health.catalog import (
    THRESHOLD_FIELDS,
    ConfigError,
    config_export,
    config_import,
    health_settings_for,
    validate_core_items,
    validate_thresholds,
)
from health.models import HealthRun, HealthSettings, StickinessMode
from health.services import health_recompute_enqueue
from settings_admin.models import AuditEntry
from vitals.tenancy.models import Organization, Product
from vitals.tenancy.scope import tenant_scope
from vitals.tenancy.selectors import product_in_scope


class AdminError(ValueError):
    """A change the rules refuse; the message is shown to the admin as is."""


# --- audit ------------------------------------------------------------------------------


@transaction.atomic
def audit_record(
    *,
    organization: Organization,
    user: AbstractBaseUser | None,
    action: str,
    target: str,
    before: Any = None,
    after: Any = None,
    product: Product | None = None,
) -> AuditEntry:
    with tenant_scope(organization):
        return AuditEntry.objects.create(
            organization=organization,
            product=product,
            user=user,
            action=action,
            target=target[:500],
            before=before,
            after=after,
        )


# --- health settings ----------------------------------------------------------------------


def health_settings_snapshot(health_settings: HealthSettings) -> dict[str, Any]:
    """Flat, so the audit log can say which of these changed."""
    snapshot: dict[str, Any] = {
        "core_items": list(health_settings.core_items),
        "stickiness": health_settings.stickiness_mode,
    }
    for metric, (lower, upper) in THRESHOLD_FIELDS.items():
        snapshot[metric] = [
            float(getattr(health_settings, lower)),
            float(getattr(health_settings, upper)),
        ]
    return snapshot


@transaction.atomic
def health_settings_update(
    *,
    product: Product,
    user: AbstractBaseUser | None,
    core_items: list[dict[str, str]],
    stickiness_mode: str,
    thresholds: dict[str, tuple[float, float]],
    as_of: date | None = None,
) -> HealthRun | None:
    """Save core items, stickiness mode and thresholds; None when nothing changed.

    Raises ConfigError when a value breaks the rules (at most 100 core items,
    0 <= lower < upper <= 100 for every metric); then nothing is saved.
    """
    cleaned_items = validate_core_items(core_items)
    cleaned_thresholds = validate_thresholds(thresholds)
    if stickiness_mode not in StickinessMode.values:
        raise ConfigError(f"stickiness must be one of {StickinessMode.values}")
    health_settings_for(product=product)
    health_settings = HealthSettings.objects.select_for_update().get(product=product)
    before = health_settings_snapshot(health_settings)
    health_settings.core_items = cleaned_items
    health_settings.stickiness_mode = stickiness_mode
    for metric, (lower, upper) in cleaned_thresholds.items():
        lower_field, upper_field = THRESHOLD_FIELDS[metric]
        setattr(health_settings, lower_field, lower)
        setattr(health_settings, upper_field, upper)
    after = health_settings_snapshot(health_settings)
    if after == before:
        return None
    health_settings.updated_by = user
    health_settings.save()
    audit_record(
        organization=product.organization,
        product=product,
        user=user,
        action="settings.update",
        target=f"{product.name} settings",
        before=before,
        after=after,
    )
    return health_recompute_enqueue(product=product, as_of=as_of)


# --- configuration as code ---------------------------------------------------------------


@transaction.atomic
def product_config_import(
    *, product: Product, user: AbstractBaseUser | None, data: Any
) -> HealthRun:
    """Replace the product's catalog and settings with a config.json's.

    The file's organization and product blocks are ignored: an import never reaches
    another tenant, and never renames or moves this one.
    """
    if not isinstance(data, dict):
        raise ConfigError("the file is not a Vitals configuration (a JSON object)")
    organization = product.organization
    before = _config_body(config_export(product=product))
    pinned = {
        **data,
        "organization": {
            "slug": organization.slug,
            "name": organization.name,
            "timezone": organization.timezone,
        },
        "product": {"key": product.key, "name": product.name},
    }
    try:
        config_import(data=pinned, user=user)
    except (TypeError, AttributeError, KeyError) as exc:
        raise ConfigError(f"the file is not a Vitals configuration ({exc})") from exc
    after = _config_body(config_export(product=product))
    audit_record(
        organization=organization,
        product=product,
        user=user,
        action="config.import",
        target=f"{product.name} configuration",
        before=before,
        after=after,
    )
    return health_recompute_enqueue(product=product)


@transaction.atomic
def config_file_import(*, data: Any, actor: AbstractBaseUser | None = None) -> Product:
    """The import_config command: creates the organization and product when they are new
    (the page's import cannot), then audits the change like the page does."""
    before = None
    existing = _configured_product(data)
    if existing is not None:
        with tenant_scope(existing.organization, existing):
            before = _config_body(config_export(product=existing))
    product = config_import(data=data, user=actor)
    with tenant_scope(product.organization, product):
        after = _config_body(config_export(product=product))
    if after != before:
        audit_record(
            organization=product.organization,
            product=product,
            user=actor,
            action="config.import",
            target=f"{product.name} configuration",
            before=before,
            after=after,
        )
    return product


def _configured_product(data: Any) -> Product | None:
    """The product a config file names, when it exists already."""
    try:
        org_slug, product_key = data["organization"]["slug"], data["product"]["key"]
    except (KeyError, TypeError):
        return None  # config_import says what is missing
    organization = Organization.objects.filter(slug=org_slug).first()
    return organization and product_in_scope(organization=organization, key=product_key)


def _config_body(config: dict[str, Any]) -> dict[str, Any]:
    return {"features": config["features"], "settings": config["settings"]}
