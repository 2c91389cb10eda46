"""Pagination and the resources' numbers, which are the engine's rows unchanged."""

from __future__ import annotations

import pytest

from health.models import AccountHealth, PortfolioHealth
from health.selectors import drilldown_lists
from tests.api.conftest import AS_OF
from vitals.tenancy.scope import tenant_scope

ACCOUNTS = "/api/v1/products/app/accounts/"


@pytest.mark.django_db
def test_it_pages_the_accounts_by_fifty(alice_api):
    first = alice_api.get(ACCOUNTS, {"last_seen": "all"}).json()
    assert first["count"] == 120
    assert len(first["results"]) == 50
    assert first["previous"] is None and "page=2" in first["next"]
    third = alice_api.get(ACCOUNTS, {"last_seen": "all", "page": 3}).json()
    assert len(third["results"]) == 20 and third["next"] is None
    everything = [
        row["account_id"]
        for page in (1, 2, 3)
        for row in alice_api.get(ACCOUNTS, {"last_seen": "all", "page": page}).json()["results"]
    ]
    assert len(set(everything)) == 120


@pytest.mark.django_db
def test_it_takes_a_page_size_up_to_a_limit(alice_api):
    assert len(alice_api.get(ACCOUNTS, {"last_seen": "all", "page_size": 7}).json()["results"]) == 7
    big = alice_api.get(ACCOUNTS, {"last_seen": "all", "page_size": 100000}).json()
    assert len(big["results"]) == 120


@pytest.mark.django_db
def test_it_answers_404_past_the_last_page(alice_api):
    assert alice_api.get(ACCOUNTS, {"page": 99}).status_code == 404


@pytest.mark.django_db
def test_it_shows_an_accounts_row_and_drilldown_unchanged(alice_api, org, product):
    with tenant_scope(org):
        row = AccountHealth.objects.select_related("account").get(account__external_id="bulk-00007")
        lists = drilldown_lists(product=product, as_of=row.as_of, account_pks=[row.account_id])
    body = alice_api.get(f"{ACCOUNTS}bulk-00007/").json()
    assert body["account_id"] == "bulk-00007"
    assert body["stickiness"] == row.stickiness
    assert body["core_feature_usage_prev"] is None
    assert body["drilldown"] == lists[row.account_id]
    assert set(body["drilldown"]) >= {"top_users_by_core", "features", "zero_usage_modules"}
    assert body["product_last_seen"].endswith("Z")
    assert body["traits"] == {"plan": "Pro", "seats": 7}


@pytest.mark.django_db
def test_it_lists_the_kpi_history_newest_first(alice_api, org, product):
    with tenant_scope(org):
        row = AccountHealth.objects.get(account__external_id="bulk-00007")
        for days, score in ((1, 11.5), (2, 22.5)):
            row.pk = None
            row.as_of = AS_OF.replace(day=AS_OF.day - days)
            row.product_score = score
            row.save()
    body = alice_api.get(f"{ACCOUNTS}bulk-00007/history/").json()
    assert [r["as_of"] for r in body["results"]] == ["2026-06-14", "2026-06-13", "2026-06-12"]
    assert [r["product_score"] for r in body["results"]][1:] == [11.5, 22.5]


@pytest.mark.django_db
def test_it_shows_the_latest_portfolio(alice_api, org):
    with tenant_scope(org):
        summary = PortfolioHealth.objects.get().summary
    body = alice_api.get("/api/v1/products/app/portfolio/").json()
    assert body["as_of"] == "2026-06-14"
    assert body["summary"] == summary


@pytest.mark.django_db
def test_it_answers_404_for_an_unknown_account(alice_api):
    assert alice_api.get(f"{ACCOUNTS}nobody/").status_code == 404
    assert alice_api.get(f"{ACCOUNTS}nobody/history/").status_code == 404
