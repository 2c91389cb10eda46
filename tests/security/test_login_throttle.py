"""Login throttling (django-axes): LOGIN_FAILURE_LIMIT failed logins for one email from one
address lock that pair out for LOGIN_COOLOFF_MINUTES, even with the right password, and the
login page says so; afterwards, or after an operator's reset, logging in works again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.db.models import F
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORDS

pytestmark = pytest.mark.django_db

ALICE = "alice@acme.test"


def log_in(client: Client, email: str, password: str, **headers: str):
    return client.post(reverse("login"), {"username": email, "password": password}, **headers)


def fail(client: Client, email: str = ALICE, times: int = 1, **headers: str):
    response = None
    for _ in range(times):
        response = log_in(client, email, "not-the-password", **headers)
    return response


def rewind(elapsed: timedelta) -> None:
    """Time passes for the recorded failures (django-axes keeps them in the database)."""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - elapsed)


def is_logged_in(client: Client) -> bool:
    # /o/acme/ forwards a member to the explorer and anyone else to the login page.
    return not client.get("/o/acme/")["Location"].startswith(reverse("login"))


def test_it_locks_out_after_the_limit_and_refuses_even_the_right_password(alice):
    limit = settings.AXES_FAILURE_LIMIT
    assert limit == 5  # the default of LOGIN_FAILURE_LIMIT
    client = Client()
    for attempt in range(1, limit):
        response = fail(client)
        assert response.status_code == 200, attempt
        assert b"That email and password do not match an account." in response.content

    locked = fail(client)
    assert locked.status_code == 429
    assert b'data-testid="login-locked"' in locked.content
    assert b"Try again in 15 minutes." in locked.content

    refused = log_in(client, ALICE, PASSWORDS["alice"])
    assert refused.status_code == 429
    assert b"logging in is paused" in refused.content
    assert "sessionid" not in refused.cookies
    assert not is_logged_in(client)


def test_it_lets_the_right_password_in_again_after_the_cool_off(alice):
    client = Client()
    fail(client, times=settings.AXES_FAILURE_LIMIT)
    assert log_in(client, ALICE, PASSWORDS["alice"]).status_code == 429

    rewind(settings.AXES_COOLOFF_TIME + timedelta(seconds=1))

    response = log_in(client, ALICE, PASSWORDS["alice"])
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert is_logged_in(client)


def test_it_restarts_a_shorter_configured_cool_off_on_each_try_during_it(alice, settings):
    settings.AXES_COOLOFF_TIME = timedelta(minutes=2)
    client = Client()
    locked = fail(client, times=settings.AXES_FAILURE_LIMIT)
    assert b"Try again in 2 minutes." in locked.content
    rewind(timedelta(minutes=1))
    # One minute is not two; and trying now restarts the two minutes.
    assert log_in(client, ALICE, PASSWORDS["alice"]).status_code == 429
    rewind(timedelta(minutes=1, seconds=30))
    assert log_in(client, ALICE, PASSWORDS["alice"]).status_code == 429
    rewind(timedelta(minutes=2, seconds=1))
    assert log_in(client, ALICE, PASSWORDS["alice"]).status_code == 302


def test_it_lets_an_operator_reset_a_lockout(alice):
    client = Client()
    fail(client, times=settings.AXES_FAILURE_LIMIT)
    call_command("axes_reset_username", ALICE, stdout=None)
    assert log_in(client, ALICE, PASSWORDS["alice"]).status_code == 302


def test_it_locks_the_email_and_address_pair_only(alice, bob):
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    fail(attacker, times=settings.AXES_FAILURE_LIMIT)
    assert log_in(attacker, ALICE, PASSWORDS["alice"]).status_code == 429
    # alice from her own address, and bob from the attacker's, are not locked out.
    assert log_in(Client(REMOTE_ADDR="198.51.100.7"), ALICE, PASSWORDS["alice"]).status_code == 302
    assert log_in(attacker, "bob@acme.test", PASSWORDS["bob"]).status_code == 302


def test_it_counts_any_spelling_of_the_email_as_one(alice):
    client = Client()
    for spelling in ("Alice@Acme.test", "ALICE@ACME.TEST", " alice@acme.test", "alice@ACME.test"):
        fail(client, email=spelling)
    assert fail(client, email="aLiCe@acme.test").status_code == 429


def test_it_forgets_failures_after_a_successful_login(alice):
    client = Client()
    fail(client, times=settings.AXES_FAILURE_LIMIT - 1)
    assert log_in(client, ALICE, PASSWORDS["alice"]).status_code == 302
    client.post(reverse("logout"))
    assert fail(client, times=settings.AXES_FAILURE_LIMIT - 1).status_code == 200


def test_it_ignores_forwarded_addresses_unless_behind_a_proxy(alice):
    client = Client()
    for number in range(settings.AXES_FAILURE_LIMIT):
        # A client cannot escape the count by making up X-Forwarded-For.
        response = fail(client, HTTP_X_FORWARDED_FOR=f"192.0.2.{number}")
    assert response.status_code == 429


def test_it_counts_the_client_the_proxy_saw_when_behind_one(alice, settings):
    settings.BEHIND_PROXY = True
    proxy = Client(REMOTE_ADDR="10.0.0.1")
    fail(proxy, times=settings.AXES_FAILURE_LIMIT, HTTP_X_FORWARDED_FOR="forged, 192.0.2.10")
    locked = log_in(proxy, ALICE, PASSWORDS["alice"], HTTP_X_FORWARDED_FOR="192.0.2.10")
    assert locked.status_code == 429
    # Another person behind the same proxy is not locked out.
    other = log_in(proxy, ALICE, PASSWORDS["alice"], HTTP_X_FORWARDED_FOR="192.0.2.20")
    assert other.status_code == 302
