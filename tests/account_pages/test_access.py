"""Every drill-down and user URL: outsiders and unknown or foreign ids get 404, anonymous
visitors are sent to log in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingestion.models import Account, EndUser
from tests.account_pages.conftest import Basic

pytestmark = pytest.mark.django_db
SOME_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def _urls(basic: Basic) -> list[str]:
    return [
        basic.account_url("acc_0001"),
        basic.account_url("acc_0001") + "?rank=visits&users=bottom",
        basic.user_url("u_00001"),
    ]


def test_it_gives_an_outsider_404_on_every_page(basic, charlie_client):
    for url in _urls(basic):
        assert charlie_client.get(url).status_code == 404, url
        htmx = charlie_client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="account-lists")
        assert htmx.status_code == 404, url


def test_it_sends_anonymous_visitors_to_log_in(basic, client):
    for url in _urls(basic):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next=")


def test_it_gives_404_for_unknown_ids(basic, basic_client):
    assert basic_client.get(basic.account_url("acc_9999")).status_code == 404
    assert basic_client.get(basic.user_url("nobody")).status_code == 404


def test_it_gives_404_for_another_organizations_account_and_user(
    basic, basic_client, alice, org, product
):
    """alice belongs to Acme and Basic; Acme's ids are not Basic's."""
    Account.dangerously_unscoped.create(
        organization=org, external_id="acme-only", name="Acme only", first_seen_at=SOME_TIME
    )
    EndUser.dangerously_unscoped.create(
        organization=org, external_id="acme-user", first_seen_at=SOME_TIME
    )
    assert basic_client.get(basic.account_url("acme-only")).status_code == 404
    assert basic_client.get(basic.user_url("acme-user")).status_code == 404
    # ... while Acme's own pages find them
    assert basic_client.get("/o/acme/p/app/accounts/acme-only/").status_code == 200
    assert basic_client.get("/o/acme/p/app/users/acme-user/").status_code == 200
