"""The explorer and its table partial run the same number of queries for 10 accounts as
for 60 (and 100,000): no query per row, per column or per trait."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.explorer.conftest import seed_accounts, seed_portfolio
from tests.explorer.helpers import HTMX_TABLE

AS_OF = date(2026, 6, 30)
URLS = [
    ("/o/acme/p/app/?last_seen=all&cols=name,id,plan,trait.seats,score,health,visits", {}),
    ("/o/acme/p/app/?last_seen=all&sort=-trait.seats&q=bulk&health=healthy", HTMX_TABLE),
    ("/o/acme/p/app/?sort=name&page=2", HTMX_TABLE),
]
# Session, user, membership, product, portfolio, settings, custom traits, counts, rows
# (and the layout's switchers): cache hits for traits and counts drop two.
FULL_PAGE_QUERIES = 11
TABLE_QUERIES = 8


def _queries(client, url: str, headers: dict) -> int:
    cache.clear()
    with CaptureQueriesContext(connection) as context:
        response = client.get(url, headers=headers)
    assert response.status_code == 200
    return len(context.captured_queries)


@pytest.fixture
def seeded(alice, org, product):
    seed_portfolio(organization=org, product=product, as_of=AS_OF)
    return org, product


def test_it_runs_a_constant_number_of_queries_whatever_the_number_of_accounts(alice_client, seeded):
    org, product = seeded
    seed_accounts(organization=org, product=product, as_of=AS_OF, count=10)
    small = [_queries(alice_client, url, headers) for url, headers in URLS]

    seed_accounts(organization=org, product=product, as_of=AS_OF, count=50, start=10)
    large = [_queries(alice_client, url, headers) for url, headers in URLS]

    assert small == large
    assert small == [FULL_PAGE_QUERIES, TABLE_QUERIES, TABLE_QUERIES]


def test_it_pins_the_full_page_queries(alice_client, seeded, django_assert_num_queries):
    org, product = seeded
    seed_accounts(organization=org, product=product, as_of=AS_OF, count=60)
    cache.clear()

    with django_assert_num_queries(FULL_PAGE_QUERIES):
        alice_client.get("/o/acme/p/app/")
    # Sorting and paging reuse the cached counts and trait names.
    with django_assert_num_queries(TABLE_QUERIES - 2):
        alice_client.get("/o/acme/p/app/?sort=plan&page=2", headers=HTMX_TABLE)
