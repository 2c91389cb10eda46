"""The conformance fixture `basic`, imported and computed, with alice as its admin."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client

from tests.health.helpers import command, compute, fixture, fixture_config, ingest_file
from vitals.tenancy.models import Organization, Product
from vitals.tenancy.services import membership_set, user_get_or_create

BASIC_AS_OF = date.fromisoformat(fixture_config("basic")["as_of"])


@pytest.fixture
def basic(db) -> Product:
    """Organization 'basic', product 'app', health computed as of the fixture's day."""
    command("import_config", str(fixture("basic") / "config.json"))
    ingest_file(fixture("basic") / "events.jsonl", "basic", "app")
    compute("basic", "app", BASIC_AS_OF, full=True)
    organization = Organization.objects.get(slug="basic")
    return Product.dangerously_unscoped.get(organization=organization, key="app")


@pytest.fixture
def basic_admin(basic):
    user = user_get_or_create(email="alice@basic.test", password="alice-password-1")
    membership_set(organization=basic.organization, user=user, role="admin")
    return user


@pytest.fixture
def basic_client(basic_admin) -> Client:
    client = Client()
    client.force_login(basic_admin)
    return client
