"""Bearer tokens: missing, invalid or revoked answer 401; the token's organization is the
request's scope, and the scope is gone when the request ends."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from api.models import ApiToken, hash_api_token
from api.services import api_token_revoke
from tests.api.conftest import TokenClient
from vitals.tenancy.models import Membership
from vitals.tenancy.scope import current_scope

URL = "/api/v1/products/"


@pytest.mark.django_db
def test_it_answers_401_without_a_token(acme_data):
    response = TokenClient(None).get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.django_db
def test_it_answers_401_for_an_unknown_token(acme_data):
    assert TokenClient("vt_not-a-real-token").get(URL).status_code == 401


@pytest.mark.django_db
def test_it_answers_401_for_a_malformed_header(alice_token, acme_data):
    response = TokenClient(None).get(URL, HTTP_AUTHORIZATION=f"Bearer {alice_token[1]} extra")
    assert response.status_code == 401


@pytest.mark.django_db
def test_it_answers_401_for_a_revoked_token(alice_token, acme_data):
    token, raw = alice_token
    assert TokenClient(raw).get(URL).status_code == 200
    api_token_revoke(token=token)
    assert TokenClient(raw).get(URL).status_code == 401


@pytest.mark.django_db
def test_it_answers_401_once_the_user_left_the_organization(alice, alice_token, acme_data):
    Membership.dangerously_unscoped.filter(user=alice).delete()
    assert TokenClient(alice_token[1]).get(URL).status_code == 401


@pytest.mark.django_db
def test_it_ignores_a_session_login(alice_client, acme_data):
    assert alice_client.get(URL).status_code == 401


@pytest.mark.django_db
def test_it_resets_the_scope_after_the_request(alice_api):
    assert alice_api.get(URL).status_code == 200
    assert current_scope() is None


@pytest.mark.django_db
def test_it_records_last_use(alice_api, alice_token):
    alice_api.get(URL)
    assert ApiToken.dangerously_unscoped.get(pk=alice_token[0].pk).last_used_at is not None


@pytest.mark.django_db
def test_it_is_read_only(alice_api):
    response = alice_api.post(URL, {}, HTTP_AUTHORIZATION=f"Bearer {alice_api.raw_token}")
    assert response.status_code == 405


@pytest.mark.django_db
def test_it_stores_only_a_hash_and_prints_the_token_once(alice, org):
    out = StringIO()
    call_command(
        "create_api_token",
        "--org",
        "acme",
        "--email",
        "alice@acme.test",
        stdout=out,
        stderr=StringIO(),
    )
    raw = out.getvalue().strip()
    token = ApiToken.dangerously_unscoped.get()
    assert token.token_hash == hash_api_token(raw)
    assert raw.startswith(token.prefix) and raw != token.prefix
    assert not ApiToken.dangerously_unscoped.filter(token_hash=raw).exists()


@pytest.mark.django_db
def test_it_refuses_a_token_for_an_outsider(charlie, org):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command(
            "create_api_token",
            "--org",
            "acme",
            "--email",
            "charlie@globex.test",
            stdout=StringIO(),
            stderr=StringIO(),
        )
