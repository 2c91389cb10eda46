"""Write keys, API tokens and passwords are stored as digests: after creating them through
every door (settings page, commands), no row of any table holds a raw secret."""

from __future__ import annotations

import hashlib
import re
from io import StringIO

import pytest
from axes.models import AccessAttempt, AccessLog
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from api.models import ApiToken
from tests.conftest import PASSWORDS
from vitals.tenancy.models import WriteKey

pytestmark = pytest.mark.django_db


def sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def rows_containing(secret: str) -> list[str]:
    """Every table whose row text (all columns, JSON included) contains `secret`."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(
                f'SELECT count(*) FROM "{table}" AS t WHERE strpos(row_to_json(t)::text, %s) > 0',
                [secret],
            )
            if cursor.fetchone()[0]:
                found.append(table)
    return found


def test_it_finds_a_secret_that_is_stored(org):
    # The search itself works: a value that is in a row is found.
    assert rows_containing("acme") == ["tenancy_organization"]


def test_it_keeps_no_raw_write_key_or_api_token_in_any_table(alice_client, org, product, bob):
    page = alice_client.post(
        reverse("write_key_create", args=["acme"]), {"product": "app", "label": "web"}
    )
    assert page["Cache-Control"] == "no-store"  # shown once, on a page nobody caches
    from_page = re.search(r'data-testid="raw-write-key">([^<]+)<', page.content.decode())[1]

    out = StringIO()
    call_command("create_write_key", "--org", "acme", "--product", "app", stdout=out)
    from_command = out.getvalue().strip().splitlines()[-1]
    out = StringIO()
    call_command(
        "create_api_token",
        "--org",
        "acme",
        "--email",
        "bob@acme.test",
        stdout=out,
        stderr=StringIO(),
    )
    token = out.getvalue().strip()

    for secret in (from_page, from_command, token):
        assert len(secret) > 40
        assert rows_containing(secret) == [], secret
        # The part after the shown prefix does not appear on its own either.
        assert rows_containing(secret[10:]) == [], secret
    digests = set(WriteKey.dangerously_unscoped.values_list("key_hash", flat=True))
    assert digests == {
        hashlib.sha256(key.encode()).hexdigest() for key in (from_page, from_command)
    }
    assert (
        ApiToken.dangerously_unscoped.get().token_hash == hashlib.sha256(token.encode()).hexdigest()
    )


def test_it_keeps_no_password_in_any_table(alice, bob):
    # Through the login form, so the throttle's tables have rows too: a success, a failure.
    client = Client()
    client.post(reverse("login"), {"username": "alice@acme.test", "password": PASSWORDS["alice"]})
    client.post(reverse("login"), {"username": "bob@acme.test", "password": PASSWORDS["charlie"]})
    assert AccessAttempt.objects.count() == 1 and AccessLog.objects.count() == 1
    for password in PASSWORDS.values():
        assert rows_containing(password) == []
