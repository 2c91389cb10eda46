from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from vitals.tenancy.models import Membership, Organization, WriteKey
from vitals.tenancy.selectors import write_key_lookup


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_it_creates_an_organization_a_user_and_a_write_key():
    run("create_org", "--slug", "initech", "--name", "Initech", "--timezone", "America/Chicago")
    organization = Organization.objects.get(slug="initech")
    assert organization.timezone == "America/Chicago"

    output = run(
        "create_user", "--email", "Ann@Initech.test", "--org", "initech", "--role", "admin"
    )
    password = output.strip().splitlines()[-1].removeprefix("password: ")
    login = RequestFactory().post("/login/")  # django-axes throttles logins per request
    assert authenticate(login, username="ann@initech.test", password=password) is not None
    assert Membership.dangerously_unscoped.get(organization=organization).role == "admin"

    from vitals.tenancy.services import product_create

    product_create(organization=organization, key="web", name="Web")
    output = run("create_write_key", "--org", "initech", "--product", "web")
    raw_key = output.strip().splitlines()[-1]
    found = write_key_lookup(raw_key=raw_key)
    assert found is not None and found.product.key == "web"
    assert not WriteKey.dangerously_unscoped.filter(key_hash=raw_key).exists()


@pytest.mark.django_db
def test_it_refuses_an_unknown_time_zone():
    with pytest.raises(CommandError, match="IANA"):
        run("create_org", "--slug", "x", "--name", "X", "--timezone", "Mars/Olympus")


@pytest.mark.django_db
def test_it_refuses_a_write_key_for_an_unknown_product(org):
    with pytest.raises(CommandError, match="No product"):
        run("create_write_key", "--org", "acme", "--product", "nope")
