"""Shared fixtures in the healthchecks manner: alice (admin) and bob (member) of Acme,
charlie an outsider who belongs to Globex. Every view test uses them."""

from __future__ import annotations

import pytest
from django.test import Client

from vitals.tenancy.models import Organization, Product
from vitals.tenancy.scope import _rls_bypass, rls_bypass, tenant_scope
from vitals.tenancy.services import (
    membership_set,
    organization_create,
    product_create,
    user_get_or_create,
)


@pytest.fixture(autouse=True)
def eager_tasks():
    """Celery tasks run in-process in tests, whatever REDIS_URL says; tests of a real worker
    switch this off themselves. Celery copies Django's settings when it first reads them,
    so the pytest-django `settings` fixture no longer reaches it: change Celery's conf."""
    from vitals.celery import app

    changes = {"task_always_eager": True, "task_eager_propagates": True}
    previous = {key: app.conf.get(key) for key in changes}
    app.conf.update(changes)
    try:
        yield
    finally:
        app.conf.update(previous)


@pytest.fixture(autouse=True)
def rls_operator(request, monkeypatch):
    """A test's own setup and assertions read and write across organizations, like an
    operator: they run in a row-level security bypass. Everything the application does
    still runs under it as in production: requests (the middleware ends the bypass),
    management commands and Celery tasks (ended here), tenant scopes (which end it).
    Tests marked `rls_enforced` get no bypass at all."""
    if request.node.get_closest_marker("rls_enforced"):
        yield
        return
    from celery.signals import task_postrun, task_prerun
    from django.core.management.base import BaseCommand

    execute = BaseCommand.execute

    def command_without_bypass(self, *args, **options):
        token = _rls_bypass.set(None)
        try:
            return execute(self, *args, **options)
        finally:
            _rls_bypass.reset(token)

    tokens = {}

    def task_starts(task_id, **kwargs):
        tokens[task_id] = _rls_bypass.set(None)

    def task_ends(task_id, **kwargs):
        if task_id in tokens:
            _rls_bypass.reset(tokens.pop(task_id))

    monkeypatch.setattr(BaseCommand, "execute", command_without_bypass)
    task_prerun.connect(task_starts, weak=False)
    task_postrun.connect(task_ends, weak=False)
    try:
        with rls_bypass("test setup and assertions"):
            yield
    finally:
        task_prerun.disconnect(task_starts)
        task_postrun.disconnect(task_ends)


@pytest.fixture(autouse=True)
def plain_static_storage(settings):
    """Pages render without a collectstatic manifest; prod-smoke covers the manifest."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


PASSWORDS = {
    "alice": "alice-password-1",
    "bob": "bob-password-1",
    "charlie": "charlie-password-1",
}


@pytest.fixture
def org(db) -> Organization:
    return organization_create(slug="acme", name="Acme", timezone_name="UTC")


@pytest.fixture
def product(org) -> Product:
    return product_create(organization=org, key="app", name="Acme App")


@pytest.fixture
def other_org(db) -> Organization:
    return organization_create(slug="globex", name="Globex", timezone_name="Europe/Berlin")


@pytest.fixture
def other_product(other_org) -> Product:
    return product_create(organization=other_org, key="app", name="Globex App")


@pytest.fixture
def alice(org, product):
    user = user_get_or_create(email="alice@acme.test", password=PASSWORDS["alice"])
    membership_set(organization=org, user=user, role="admin")
    return user


@pytest.fixture
def bob(org, product):
    user = user_get_or_create(email="bob@acme.test", password=PASSWORDS["bob"])
    membership_set(organization=org, user=user, role="member")
    return user


@pytest.fixture
def charlie(other_org, other_product):
    user = user_get_or_create(email="charlie@globex.test", password=PASSWORDS["charlie"])
    membership_set(organization=other_org, user=user, role="admin")
    return user


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice_client(alice) -> Client:
    return _client_for(alice)


@pytest.fixture
def bob_client(bob) -> Client:
    return _client_for(bob)


@pytest.fixture
def charlie_client(charlie) -> Client:
    return _client_for(charlie)


@pytest.fixture
def in_org(org):
    """Enter Acme's tenant scope for direct model/selector calls in a test."""
    with tenant_scope(org):
        yield org
