"""`seed_demo` builds a working demo: organization, logins, events and computed health."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db import connection
from django.test import RequestFactory

from health.models import AccountHealth
from ingestion.models import Account
from vitals.tenancy.models import Organization, Product
from vitals.tenancy.scope import tenant_scope

SMALL = {"accounts": 12, "days": 40, "seed": 7}


def _event_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ingestion_event")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_it_seeds_a_demo_with_logins_events_and_health() -> None:
    out = StringIO()
    call_command("seed_demo", stdout=out, **SMALL)

    organization = Organization.objects.get(slug="demo")
    assert organization.name == "Northwind Analytics"
    with tenant_scope(organization):
        web = Product.objects.get(key="web")
        assert Product.objects.filter(key="mobile").exists()
        assert Account.objects.count() == 12
    login = RequestFactory().post("/login/")  # django-axes throttles logins per request
    assert authenticate(login, username="admin@demo.test", password="vitals-demo") is not None
    assert authenticate(login, username="member@demo.test", password="vitals-demo") is not None
    assert "admin@demo.test / vitals-demo" in out.getvalue()

    events = _event_count()
    assert events > 0
    with tenant_scope(organization, web):
        assert AccountHealth.objects.filter(product=web).exists()

    again = StringIO()
    call_command("seed_demo", "--if-empty", stdout=again, **SMALL)
    assert _event_count() == events
    assert "member@demo.test / vitals-demo" in again.getvalue()
