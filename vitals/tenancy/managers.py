from __future__ import annotations

from django.db import models

from vitals.tenancy.scope import require_organization


class TenantQuerySet(models.QuerySet):
    pass


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    """Fails closed: every queryset is filtered to the organization in scope, or raises."""

    def get_queryset(self) -> TenantQuerySet:
        organization = require_organization()
        return super().get_queryset().filter(organization_id=organization.pk)


class UnscopedManager(models.Manager):
    """The explicit bypass, for cross-tenant jobs (schedulers, migrations, admin tooling)."""
