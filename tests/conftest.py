"""Shared fixtures in the healthchecks manner: alice (admin) and bob (member) of Acme,
charlie an outsider who belongs to Globex. Every view test uses them."""

from __future__ import annotations

import pytest
from django.test import Client

from vitals.tenancy.models import Organization, Product
from vitals.tenancy.scope import tenant_scope
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
