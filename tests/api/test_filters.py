"""The accounts endpoint filters and sorts as the Accounts Explorer does: the same query
string gives the same accounts in the same order as the page's table."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.explorer.helpers import read_table

QUERIES = [
    "",
    "?health=at-risk",
    "?health=healthy&sort=name",
    "?q=bulk-0001",
    "?last_seen=all&sort=-visits",
    "?last_seen=all&health=neutral&sort=product_score",
    "?q=Bulk 00&sort=-score&page=2",
    "?sort=not-a-column&health=bogus",
]


@pytest.mark.django_db
@pytest.mark.parametrize("query", QUERIES)
def test_it_returns_the_explorers_rows_for_the_same_query(alice_api, alice_client, query):
    page = alice_client.get(reverse("explorer", args=["acme", "app"]) + query)
    assert page.status_code == 200
    shown = read_table(page.content.decode()).order
    api = alice_api.get("/api/v1/products/app/accounts/" + query).json()
    assert [row["account_id"] for row in api["results"]] == shown
