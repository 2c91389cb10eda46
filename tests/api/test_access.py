"""A token opens one organization: every object of another one answers 404."""

from __future__ import annotations

import pytest

A_GLOBEX_ACCOUNT = "bulk-00503"
AN_ACME_ACCOUNT = "bulk-00003"


@pytest.mark.django_db
def test_it_lists_only_the_tokens_organization(alice_api, charlie_api):
    assert [p["name"] for p in alice_api.get("/api/v1/products/").json()["results"]] == ["Acme App"]
    assert [p["name"] for p in charlie_api.get("/api/v1/products/").json()["results"]] == [
        "Globex App"
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/products/app/accounts/{AN_ACME_ACCOUNT}/",
        f"/api/v1/products/app/accounts/{AN_ACME_ACCOUNT}/history/",
    ],
)
def test_it_answers_404_for_another_organizations_account(charlie_api, alice_api, path):
    # Both organizations have a product keyed "app"; the account is Acme's only.
    assert alice_api.get(path).status_code == 200
    assert charlie_api.get(path).status_code == 404


@pytest.mark.django_db
def test_it_never_lists_another_organizations_accounts(charlie_api, alice_api):
    ids = [
        row["account_id"]
        for row in charlie_api.get("/api/v1/products/app/accounts/?last_seen=all").json()["results"]
    ]
    assert ids and set(ids) <= {f"bulk-{i:05d}" for i in range(500, 510)}
    assert alice_api.get(f"/api/v1/products/app/accounts/{A_GLOBEX_ACCOUNT}/").status_code == 404


@pytest.mark.django_db
def test_it_answers_404_for_a_product_of_another_organization(alice_api, org, other_org):
    from vitals.tenancy.services import product_create

    product_create(organization=other_org, key="globex-only", name="Globex only")
    for path in ["", "portfolio/", "accounts/"]:
        response = alice_api.get(f"/api/v1/products/globex-only/{path}")
        assert response.status_code == 404, path
