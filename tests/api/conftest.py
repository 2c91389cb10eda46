"""API test data: Acme with bulk accounts (alice's token), Globex with its own accounts
(charlie's token), and helpers to call the API with a bearer token."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client

from api.services import api_token_create
from tests.explorer.conftest import seed_accounts, seed_portfolio

AS_OF = date(2026, 6, 14)


class TokenClient(Client):
    def __init__(self, raw_token: str | None) -> None:
        super().__init__()
        self.raw_token = raw_token

    def get(self, path, data=None, **extra):  # type: ignore[override]
        if self.raw_token is not None:
            extra.setdefault("HTTP_AUTHORIZATION", f"Bearer {self.raw_token}")
        return super().get(path, data, **extra)


@pytest.fixture
def acme_data(org, product):
    seed_accounts(organization=org, product=product, as_of=AS_OF, count=120)
    seed_portfolio(organization=org, product=product, as_of=AS_OF)
    return org


@pytest.fixture
def globex_data(other_org, other_product):
    seed_accounts(organization=other_org, product=other_product, as_of=AS_OF, count=10, start=500)
    seed_portfolio(organization=other_org, product=other_product, as_of=AS_OF)
    return other_org


@pytest.fixture
def alice_token(alice, org):
    return api_token_create(organization=org, user=alice, name="alice's laptop")


@pytest.fixture
def charlie_token(charlie, other_org):
    return api_token_create(organization=other_org, user=charlie)


@pytest.fixture
def alice_api(alice_token, acme_data) -> TokenClient:
    return TokenClient(alice_token[1])


@pytest.fixture
def charlie_api(charlie_token, globex_data) -> TokenClient:
    return TokenClient(charlie_token[1])
