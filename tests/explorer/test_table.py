"""The Accounts table: numbers equal export_health's, and sorting, quick filters, search,
the default last-seen filter, columns and pages do what the URL says."""

from __future__ import annotations

import csv
from datetime import date, datetime
from io import StringIO

import pytest
from django.core.management import call_command

from accounts_explorer import formatting as fmt
from tests.explorer.conftest import seed_accounts, seed_portfolio
from tests.explorer.helpers import HTMX_TABLE, read_table

ALL_KPIS = (
    "?last_seen=all&cols=name,id,health,score,cfu,stickiness,coverage,active_users,"
    "users_at_risk,visits,avg_session,avg_dau,avg_wau,users_lifetime,visits_lifetime,"
    "product_first_seen,product_last_seen,last_seen,created"
)


def _percent(value: str) -> str:
    return fmt.percent(float(value)) if value else "–"


def _day(value: str) -> str:
    return value[:10] if value else "–"


def test_it_shows_the_numbers_of_export_health(basic_alice, basic, tmp_path):
    call_command(
        "export_health",
        "--org",
        "basic",
        "--product",
        "app",
        "--as-of",
        str(basic.as_of),
        "--out",
        str(tmp_path),
        stdout=StringIO(),
    )
    with (tmp_path / "accounts.csv").open() as handle:
        exported = {row["account_id"]: row for row in csv.DictReader(handle)}

    table = read_table(basic_alice.get(basic.url(ALL_KPIS)).content.decode())

    assert set(table.rows) == set(exported)
    for account_id, row in exported.items():
        shown = table.rows[account_id]
        expected = {
            "id": account_id,
            "name": row["name"] or account_id,
            "health": row["health"],
            "score": _percent(row["product_score"]),
            "cfu": _percent(row["core_feature_usage"]),
            "stickiness": _percent(row["stickiness"]),
            "coverage": _percent(row["active_user_coverage"]),
            "active_users": f"{int(row['active_users']):,}",
            "users_at_risk": f"{int(row['users_at_risk']):,}",
            "visits": f"{int(row['visits']):,}",
            "avg_session": fmt.duration(
                float(row["avg_session_seconds"]) if row["avg_session_seconds"] else None
            ),
            "avg_dau": f"{float(row['avg_dau']):,.1f}",
            "avg_wau": f"{float(row['avg_wau']):,.1f}",
            "users_lifetime": f"{int(row['users_lifetime']):,}",
            "visits_lifetime": f"{int(row['visits_lifetime']):,}",
            # The basic fixture's organization is in UTC: the shown day is the UTC day.
            "product_first_seen": _day(row["product_first_seen"]),
            "product_last_seen": _day(row["product_last_seen"]),
            "last_seen": _day(row["last_seen"]),
            "created": row["created_date"] or "–",
        }
        assert shown == expected, account_id


def test_it_shows_trend_triangles_with_the_prior_value(basic_alice, basic):
    html = basic_alice.get(basic.url("?cols=id,score")).content.decode()

    # acc_0001: Product Score 40.6 now, 1.7 in the prior 30 days (expected_accounts.csv).
    row = html[html.index('data-account="acc_0001"') :]
    row = row[: row.index("</tr>")]
    assert 'title="Prior 30 days: 1.7% · Neutral"' in row
    assert '<span class="vitals-trend trend-green"><span aria-hidden="true">▲</span>' in row
    assert "up from 1.7%" in row
    assert "band-cell band-yellow" in row


def test_it_filters_by_health_with_counts_per_quick_filter(basic_alice, basic):
    everyone = read_table(basic_alice.get(basic.url()).content.decode())
    at_risk = basic_alice.get(basic.url("?health=at-risk"), headers=HTMX_TABLE).content.decode()
    table = read_table(at_risk)

    assert table.rows
    assert {row["health"] for row in table.rows.values()} == {"At Risk"}
    assert set(table.rows) < set(everyone.rows)
    assert (
        f'At Risk <span class="badge rounded-pill vitals-count">{len(table.rows)}</span>' in at_risk
    )
    assert (
        f'All <span class="badge rounded-pill vitals-count">{len(everyone.rows)}</span>' in at_risk
    )
    assert 'aria-current="page">\n            At Risk' in at_risk


def test_it_searches_name_or_id_within_the_quick_filter(basic_alice, basic):
    by_name = read_table(basic_alice.get(basic.url("?q=stark")).content.decode())
    by_id = read_table(basic_alice.get(basic.url("?q=ACC_0002")).content.decode())
    within = read_table(basic_alice.get(basic.url("?q=acc_000&health=healthy")).content.decode())

    assert list(by_name.rows) == ["acc_0001"]
    assert list(by_id.rows) == ["acc_0002"]
    assert {row["health"] for row in within.rows.values()} == {"Healthy"}


def test_it_says_so_when_nothing_matches(basic_alice, basic):
    html = basic_alice.get(basic.url("?q=nobody-at-all")).content.decode()

    assert 'data-testid="no-rows"' in html
    assert "No accounts match “nobody-at-all”" in html


@pytest.fixture
def bulk(alice, org, product):
    """120 accounts: half seen in the last 30 days."""
    as_of = date(2026, 6, 30)
    seed_accounts(organization=org, product=product, as_of=as_of, count=120)
    seed_portfolio(organization=org, product=product, as_of=as_of)
    return as_of


@pytest.mark.parametrize(
    ("sort", "column", "key"),
    [
        ("score", "score", lambda text: float(text.rstrip("%"))),
        ("-active_users", "active_users", lambda text: int(text)),
        ("name", "name", str),
        ("-plan", "plan", str),
    ],
)
def test_it_sorts_every_way_with_a_stable_tie_break(alice_client, bulk, sort, column, key):
    url = f"/o/acme/p/app/?last_seen=all&sort={sort}&cols=id,name,score,active_users,plan"
    table = read_table(alice_client.get(url).content.decode())

    values = [key(table.rows[account][column]) for account in table.order]
    assert values == sorted(values, reverse=sort.startswith("-"))
    again = read_table(alice_client.get(url).content.decode())
    assert again.order == table.order
    # Ties (plan has three values) follow the account, in the sort's direction.
    if column == "plan":
        tied = table.rows[table.order[0]]["plan"]
        first = [a for a in table.order if table.rows[a]["plan"] == tied]
        assert first == sorted(first, reverse=True)


def test_it_sorts_by_a_custom_trait_found_on_the_accounts(alice_client, bulk):
    url = "/o/acme/p/app/?last_seen=all&sort=-trait.seats&cols=id,trait.seats"
    html = alice_client.get(url).content.decode()
    table = read_table(html)

    assert "seats" in html  # offered in the column chooser
    seats = [int(table.rows[a]["trait.seats"]) for a in table.order]
    assert seats == sorted(seats, reverse=True)
    assert seats[0] == 39


def test_it_pages_fifty_at_a_time_without_overlap(alice_client, bulk):
    base = "/o/acme/p/app/?last_seen=all&sort=name&cols=id"
    first = read_table(alice_client.get(base).content.decode())
    second_html = alice_client.get(base + "&page=2").content.decode()
    second = read_table(second_html)
    third = read_table(alice_client.get(base + "&page=3").content.decode())

    assert (len(first.order), len(second.order), len(third.order)) == (50, 50, 20)
    assert not set(first.order) & set(second.order)
    assert first.order[-1] < second.order[0]
    assert "51–100 of 120 accounts" in second_html
    assert 'href="?last_seen=all&amp;sort=name&amp;cols=id&amp;page=3"' in second_html


def test_it_applies_the_default_last_seen_filter_until_its_chip_is_removed(alice_client, bulk):
    default = alice_client.get("/o/acme/p/app/?cols=id,product_last_seen").content.decode()
    table = read_table(default)

    # Accounts i were last seen i % 60 days before the as-of day: 0..29 are in W.
    assert "1–50 of 60 accounts" in default
    since = "2026-06-01"
    assert all(row["product_last_seen"] >= since for row in table.rows.values())
    assert 'data-testid="last-seen-chip"' in default
    assert 'href="?last_seen=all&amp;cols=id,product_last_seen"' in default

    removed = alice_client.get("/o/acme/p/app/?last_seen=all&cols=id,product_last_seen")
    assert "of 120 accounts" in removed.content.decode()
    assert 'data-testid="last-seen-restore"' in removed.content.decode()


def test_it_shows_the_columns_of_the_url_in_its_order(alice_client, bulk):
    html = alice_client.get("/o/acme/p/app/?cols=plan,trait.seats,id,nonsense").content.decode()
    table = read_table(html)

    assert table.headers == ["plan", "trait.seats", "id"]
    assert 'name="cols" value="plan,trait.seats,id"' in html


def test_it_takes_the_chooser_form_without_javascript(alice_client, bulk):
    html = alice_client.get("/o/acme/p/app/?col=id&col=score&cols=name").content.decode()

    assert read_table(html).headers == ["id", "score"]


def test_it_falls_back_to_defaults_for_invalid_parameters(alice_client, bulk):
    response = alice_client.get("/o/acme/p/app/?health=bogus&sort=drop+table&page=-3&last_seen=x")

    table = read_table(response.content.decode())
    assert response.status_code == 200
    assert len(table.rows) == 50
    assert table.headers[:2] == ["name", "id"]


def test_it_keeps_other_organizations_accounts_out(alice_client, bulk, other_org, other_product):
    seed_accounts(organization=other_org, product=other_product, as_of=bulk, count=5, start=1000)

    html = alice_client.get("/o/acme/p/app/?last_seen=all&q=bulk-010").content.decode()

    assert "bulk-01000" not in html
    assert datetime  # noqa: B018
