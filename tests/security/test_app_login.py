"""The application's own login role (DATABASE_URL in production, with DATABASE_OWNER_URL
for migrations): a real second connection to the test database as a role made by
`create_app_login` has no power over the schema, cannot become the owner, refuses
`rls_bypass`, and finds what it needs through the SECURITY DEFINER lookups only.

scripts/prod_smoke.py proves the same with gunicorn, a worker and beat."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import ProgrammingError, connection, connections

from vitals.tenancy.models import Membership, Product
from vitals.tenancy.rls import APP_ROLE, RlsBypassUnavailable
from vitals.tenancy.scope import rls_bypass, tenant_scope
from vitals.tenancy.selectors import membership_for, memberships_of_user, write_key_lookup
from vitals.tenancy.services import (
    membership_set,
    organization_create,
    product_create,
    user_get_or_create,
    write_key_create,
)

# Committed data and a role the second connection can see; no operator bypass.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.rls_enforced]


@contextlib.contextmanager
def logged_in_as_login_role() -> Iterator[str]:
    """The default connection logs in as a role made by create_app_login, as production's
    DATABASE_URL does, until the block ends; then as the owner again."""
    database = connection.settings_dict["NAME"]
    name = "vitals_login_" + re.sub(r"[^a-z0-9_]", "_", database.lower())[:40]
    call_command("create_app_login", name, stdout=io.StringIO())
    default = connections["default"]
    saved = {key: default.settings_dict[key] for key in ("USER", "PASSWORD")}
    default.close()
    default.settings_dict.update(USER=name, PASSWORD="")
    try:
        yield name
    finally:
        default.close()
        default.settings_dict.update(saved)


def _one(sql: str, params: list | None = None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params or None)
        return cursor.fetchone()


def test_it_logs_in_as_a_role_with_no_power_over_the_schema():
    with logged_in_as_login_role() as name:
        session_user, current_user, superuser, bypassrls, owned = _one(
            """
            SELECT session_user, current_user, r.rolsuper, r.rolbypassrls,
                   (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid)
                   + (SELECT count(*) FROM pg_proc p WHERE p.proowner = r.oid)
            FROM pg_roles r WHERE r.rolname = session_user
            """
        )
    assert (session_user, current_user) == (name, APP_ROLE)
    assert (superuser, bypassrls, owned) == (False, False, 0)


def test_it_cannot_become_the_owner():
    owner = connection.settings_dict["USER"]
    with logged_in_as_login_role():
        with pytest.raises(ProgrammingError, match="permission denied to set role"):
            _one(f'SET ROLE "{owner}"')
        connection.close()  # the failed statement is all this connection did
        assert _one("SELECT current_user") == (APP_ROLE,)


def test_rls_bypass_refuses_rather_than_becoming_the_owner():
    with logged_in_as_login_role():
        with rls_bypass("a test tries"), pytest.raises(RlsBypassUnavailable, match="0004"):
            Product.dangerously_unscoped.count()
        assert _one("SELECT current_user") == (APP_ROLE,)


def test_the_production_lookups_work_as_the_login_role():
    organization = organization_create(slug="acme", name="Acme")
    product = product_create(organization=organization, key="app", name="Acme App")
    user = user_get_or_create(email="alice@acme.test", password="alice-password-1")
    membership_set(organization=organization, user=user, role="admin")
    key, raw_key = write_key_create(product=product)

    with logged_in_as_login_role():
        # Without a setting the tables show nothing...
        assert _one("SELECT count(*) FROM tenancy_writekey") == (0,)
        assert Membership.dangerously_unscoped.count() == 0
        # ...the definer lookups answer the one question each is for...
        found = write_key_lookup(raw_key=raw_key)
        assert (found.pk, found.product.pk, found.organization.slug) == (key.pk, product.pk, "acme")
        membership = membership_for(user=user, organization_slug="acme")
        assert (membership.role, membership.organization.pk) == ("admin", organization.pk)
        assert membership_for(user=user, organization_slug="globex") is None
        assert [m.organization.slug for m in memberships_of_user(user=user)] == ["acme"]
        # ...and in the organization's scope its rows are there.
        with tenant_scope(organization):
            assert Product.objects.count() == 1
