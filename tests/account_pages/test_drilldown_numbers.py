"""The drill-down shows the conformance fixture's numbers: the figures export_health
writes (expected_accounts.csv) and the lists of expected_drilldown.json."""

from __future__ import annotations

import pytest

from accounts_explorer import formatting as fmt
from tests.account_pages.conftest import attribute_values, figure, kpi_value

pytestmark = pytest.mark.django_db

KPIS = ["core_feature_usage", "active_user_coverage", "stickiness", "product_score"]


def _number(cell: str) -> float | None:
    return float(cell) if cell != "" else None


def test_it_shows_every_accounts_summary_and_health_as_exported(basic, basic_client):
    for account_id, row in basic.accounts.items():
        response = basic_client.get(basic.account_url(account_id))
        assert response.status_code == 200
        html = response.content.decode()
        assert row["name"] in html
        assert figure(html, "Customer Since") == row["product_first_seen"][:10]
        assert figure(html, "Total Visits") == fmt.integer(int(row["visits_lifetime"]))
        assert figure(html, "Total Users") == fmt.integer(int(row["users_lifetime"]))
        assert figure(html, "Users at Risk") == fmt.integer(int(row["users_at_risk"]))
        assert figure(html, "Average Session Duration") == fmt.duration(
            _number(row["avg_session_seconds"])
        )
        for key in KPIS:
            assert kpi_value(html, key) == fmt.percent(_number(row[key])), (account_id, key)
        assert f'data-testid="account-health">{row["health"]}<' in html


def test_it_shows_a_duration_and_percentages_the_way_people_read_them(basic, basic_client):
    html = basic_client.get(basic.account_url("acc_0001")).content.decode()
    # avg_session_seconds 419.61 and stickiness 14.444...
    assert figure(html, "Average Session Duration") == "7m 0s"
    assert kpi_value(html, "stickiness") == "14.4%"
    assert kpi_value(html, "core_feature_usage") == "66.7%"


def test_it_lists_users_in_the_engines_order_both_ways(basic, basic_client):
    for account_id, expected in basic.drilldown.items():
        url = basic.account_url(account_id)
        by_core = expected["top_users_by_core"]
        by_visits = expected["top_users_by_visits"]
        html = basic_client.get(url).content.decode()
        assert attribute_values(html, "data-user-id", within="users") == by_core[:25]
        html = basic_client.get(url, {"rank": "visits"}).content.decode()
        assert attribute_values(html, "data-user-id", within="users") == by_visits[:25]
        html = basic_client.get(url, {"users": "bottom"}).content.decode()
        assert attribute_values(html, "data-user-id", within="users") == by_core[::-1][:25]


def test_it_lists_features_and_modules_top_and_bottom(basic, basic_client):
    for account_id, expected in basic.drilldown.items():
        url = basic.account_url(account_id)
        for kind in ("features", "modules"):
            keys = [key for key, _ in expected[kind]]
            html = basic_client.get(url, {"usage": kind}).content.decode()
            assert attribute_values(html, "data-key", within="usage") == keys[:10]
            html = basic_client.get(url, {"usage": kind, "usage_end": "bottom"}).content.decode()
            assert attribute_values(html, "data-key", within="usage") == keys[::-1][:10]


def test_it_lists_the_zero_usage_catalog_entries(basic, basic_client):
    for account_id, expected in basic.drilldown.items():
        url = basic.account_url(account_id)
        html = basic_client.get(url).content.decode()
        zero = attribute_values(html, "data-key", within="zero")
        assert zero == expected["zero_usage_features"]
        html = basic_client.get(url, {"zero": "modules"}).content.decode()
        zero = attribute_values(html, "data-key", within="zero")
        assert zero == expected["zero_usage_modules"]


def test_it_shows_who_changed_a_zero_usage_entry_and_when(basic, basic_client):
    html = basic_client.get(basic.account_url("acc_0001"), {"zero": "modules"}).content.decode()
    start = html.index('data-testid="zero"')
    section = html[start : html.index("</section>", start)]
    assert "Integrations/Legacy" in section
    assert "by import" in section  # the catalog came from import_config, not a person
    assert "UTC" in section


def test_it_filters_users_by_id(basic, basic_client):
    url = basic.account_url("acc_0002")
    everyone = basic.drilldown["acc_0002"]["top_users_by_core"]
    wanted = everyone[-1]
    html = basic_client.get(url, {"uq": wanted.upper()}).content.decode()
    assert attribute_values(html, "data-user-id", within="users") == [wanted]
    html = basic_client.get(url, {"uq": "no-such-user"}).content.decode()
    assert attribute_values(html, "data-user-id", within="users") == []
    assert "No user matches" in html


def test_it_searches_zero_usage_entries(basic, basic_client):
    url = basic.account_url("acc_0001")
    html = basic_client.get(url, {"zero": "modules", "zq": "legacy"}).content.decode()
    assert attribute_values(html, "data-key", within="zero") == ["Integrations/Legacy"]


def test_it_links_each_user_to_their_page(basic, basic_client):
    html = basic_client.get(basic.account_url("acc_0001")).content.decode()
    assert 'href="/o/basic/p/app/users/u_00001/"' in html


def test_it_shows_the_accounts_attributes(basic, basic_client):
    html = basic_client.get(basic.account_url("acc_0002")).content.decode()
    start = html.index('data-testid="attributes"')
    section = html[start : html.index("</section>", start)]
    for text in ("Enterprise", "Retail", "India", "Bengaluru", "9,000", "2025-10-16"):
        assert text in section
    assert 'href="https://acc_0002.example.com"' in section


def test_it_draws_the_trend_of_every_computed_day(basic, basic_client):
    html = basic_client.get(basic.account_url("acc_0001")).content.decode()
    assert 'role="img"' in html
    assert '<title id="trend-title">Health KPIs over the 90 days to 2026-10-31</title>' in html
    start = html.index('data-testid="trend-table"')
    table = html[start : html.index("</table>", start)]
    assert [day for day in ("2026-09-15", "2026-10-15", "2026-10-31") if day in table] == [
        "2026-09-15",
        "2026-10-15",
        "2026-10-31",
    ]
    assert "Stickiness on 2026-10-31: 14.4%" in html
