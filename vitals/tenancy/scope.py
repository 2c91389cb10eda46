"""The one scoping mechanism: which organization (and product) the current code works for.

The middleware enters the scope for a request after the membership check, Celery tasks
and commands enter it from the ids they are given. Tenant managers read it and refuse to
query when it is empty: forgetting to scope is an error, never a leak.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vitals.tenancy.models import Organization, Product


class TenantScopeError(RuntimeError):
    """A tenant-scoped query ran with no organization in scope."""


@dataclass(frozen=True)
class TenantScope:
    organization: Organization
    product: Product | None = None


_current_scope: ContextVar[TenantScope | None] = ContextVar("vitals_tenant_scope", default=None)
# The reason of the row-level security bypass in force, if any (vitals/tenancy/rls.py).
_rls_bypass: ContextVar[str | None] = ContextVar("vitals_rls_bypass", default=None)


@contextlib.contextmanager
def tenant_scope(organization: Organization, product: Product | None = None) -> Iterator[None]:
    """Work for one organization: the managers filter to it and so does PostgreSQL's
    row-level security. Entering a tenant scope ends any bypass for its duration."""
    if product is not None and product.organization_id != organization.pk:
        raise TenantScopeError("product does not belong to the organization in scope")
    token = _current_scope.set(TenantScope(organization=organization, product=product))
    bypass_token = _rls_bypass.set(None)
    try:
        yield
    finally:
        _rls_bypass.reset(bypass_token)
        _current_scope.reset(token)


@contextlib.contextmanager
def rls_bypass(reason: str) -> Iterator[None]:
    """The explicit, rare way past row-level security, for reads and writes that cannot
    know one organization: the membership check before a scope exists, write-key and API
    token lookups, the scheduler's sweep over every product, operator commands. Statements
    in it run as the owner role (SET LOCAL ROLE, per transaction). Grep for `rls_bypass(`
    to list them all; docs/security.md does."""
    if not reason:
        raise ValueError("an RLS bypass needs a reason")
    token = _rls_bypass.set(reason)
    try:
        yield
    finally:
        _rls_bypass.reset(token)


def current_rls_bypass() -> str | None:
    return _rls_bypass.get()


def current_scope() -> TenantScope | None:
    return _current_scope.get()


def require_organization() -> Organization:
    scope = _current_scope.get()
    if scope is None:
        raise TenantScopeError(
            "tenant data queried with no organization in scope; "
            "enter tenant_scope(...) or use the explicit .dangerously_unscoped manager"
        )
    return scope.organization
