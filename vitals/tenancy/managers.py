from __future__ import annotations

from typing import Any

from django.db import models

from vitals.tenancy.scope import require_organization, rls_bypass


class TenantQuerySet(models.QuerySet):
    pass


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    """Fails closed: every queryset is filtered to the organization in scope, or raises."""

    def get_queryset(self) -> TenantQuerySet:
        organization = require_organization()
        return super().get_queryset().filter(organization_id=organization.pk)


class UnscopedQuerySet(models.QuerySet):
    """No organization filter from the manager. Row-level security still applies, unless
    the queryset is marked with `.rls_bypass(reason)`: then it is evaluated (lazily,
    wherever that happens, a template included) inside `scope.rls_bypass(reason)`."""

    _rls_bypass_reason: str | None = None

    def rls_bypass(self, reason: str) -> UnscopedQuerySet:
        clone = self._chain()
        clone._rls_bypass_reason = reason
        return clone

    def _clone(self) -> UnscopedQuerySet:
        clone = super()._clone()
        clone._rls_bypass_reason = self._rls_bypass_reason
        return clone

    def _bypassing(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        if self._rls_bypass_reason is None:
            return method(*args, **kwargs)
        with rls_bypass(self._rls_bypass_reason):
            return method(*args, **kwargs)

    def _fetch_all(self) -> None:
        self._bypassing(super()._fetch_all)

    def exists(self) -> bool:
        return self._bypassing(super().exists)

    def count(self) -> int:
        return self._bypassing(super().count)

    def update(self, **kwargs: Any) -> int:
        return self._bypassing(super().update, **kwargs)


class UnscopedManager(models.Manager.from_queryset(UnscopedQuerySet)):  # type: ignore[misc]
    """The explicit bypass of the manager's filter, for cross-tenant jobs (schedulers,
    migrations, admin tooling). Row-level security is a separate, rarer bypass."""
