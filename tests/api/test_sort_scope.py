"""The accounts endpoint sorted by an account column (name, id, a trait) names the
account's organization in its query, so the join walks the organization's account index
in order (accounts_explorer/migrations/0002): the same rows in the same order, and only
the token's organization's."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db

ACME = range(120)  # tests/api/conftest.py: bulk-00000 .. bulk-00119
PLANS = ["Free", "Pro", "Enterprise"]  # by i % 3 (tests/explorer/conftest.py)


def _ids(indexes) -> list[str]:
    return [f"bulk-{i:05d}" for i in indexes]


EXPECTED = {
    "name": _ids(ACME),
    "-name": _ids(reversed(ACME)),
    "id": _ids(ACME),
    "plan": _ids(sorted(ACME, key=lambda i: (PLANS[i % 3], i))),
    "-plan": _ids(sorted(ACME, key=lambda i: (PLANS[i % 3], i), reverse=True)),
    "trait.seats": _ids(sorted(ACME, key=lambda i: (i % 40, i))),
}


def _list(client, query: str) -> tuple[list[str], str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/api/v1/products/app/accounts/?last_seen=all&page_size=500&{query}")
    assert response.status_code == 200
    sql = " ".join(query["sql"] for query in captured.captured_queries)
    return [row["account_id"] for row in response.json()["results"]], sql


@pytest.mark.parametrize("sort", EXPECTED)
def test_it_sorts_by_an_account_column_within_the_organization(alice_api, globex_data, org, sort):
    rows, sql = _list(alice_api, f"sort={sort}")
    assert rows == EXPECTED[sort]
    assert f'"ingestion_account"."organization_id" = {org.pk}' in sql


def test_it_names_no_account_organization_for_a_health_column(alice_api, org):
    rows, sql = _list(alice_api, "sort=-visits")
    assert len(rows) == 120
    assert f'"ingestion_account"."organization_id" = {org.pk}' not in sql


def test_another_organization_sorted_by_name_sees_only_its_accounts(
    alice_api, charlie_api, other_org
):
    rows, sql = _list(charlie_api, "sort=name")
    assert rows == _ids(range(500, 510))
    assert f'"ingestion_account"."organization_id" = {other_org.pk}' in sql
