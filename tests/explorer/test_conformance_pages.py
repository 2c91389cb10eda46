"""Every conformance fixture, read the way a person reads the pages: the explorer's
Summary and Health widgets, its accounts table and each account's drill-down show the
numbers `export_health` writes for the fixture (issue 5's acceptance), in the
organization's time zone where a day is shown."""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts_explorer import formatting as fmt
from tests.account_pages.conftest import attribute_values, figure, kpi_value
from tests.explorer.conftest import Computed, import_fixture
from tests.explorer.helpers import read_table
from tests.health.helpers import fixture_dirs
from vitals.tenancy.services import membership_set

pytestmark = pytest.mark.django_db

FIXTURES = ["basic", "kolkata_wau", "micro"]
ALL_COLUMNS = (
    "?last_seen=all&cols=name,id,health,score,cfu,stickiness,coverage,active_users,"
    "users_at_risk,visits,avg_session,avg_dau,avg_wau,users_lifetime,visits_lifetime,"
    "product_first_seen,product_last_seen,last_seen,created"
)
KPIS = ["core_feature_usage", "active_user_coverage", "stickiness", "product_score"]


def _number(cell: str) -> float | None:
    return float(cell) if cell != "" else None


def _percent(cell: str) -> str:
    return fmt.percent(_number(cell))


def _local_day(cell: str, computed: Computed) -> str:
    """An exported UTC timestamp as the calendar day in the organization's time zone."""
    if not cell:
        return fmt.NOT_AVAILABLE
    return fmt.day(datetime.fromisoformat(cell), computed.organization.tzinfo)


def _exported(computed: Computed, out: Path) -> tuple[dict, dict, dict]:
    call_command(
        "export_health",
        "--org",
        computed.organization.slug,
        "--product",
        computed.product.key,
        "--as-of",
        str(computed.as_of),
        "--out",
        str(out),
        stdout=StringIO(),
    )
    with (out / "accounts.csv").open(newline="") as handle:
        accounts = {row["account_id"]: row for row in csv.DictReader(handle)}
    summary = json.loads((out / "summary.json").read_text())
    drilldown = json.loads((out / "drilldown.json").read_text())
    return accounts, summary, drilldown


@pytest.fixture(params=FIXTURES)
def fixture_pages(request, alice, alice_client, tmp_path):
    computed = import_fixture(request.param)
    membership_set(organization=computed.organization, user=alice, role="member")
    return computed, alice_client, *_exported(computed, tmp_path)


def test_it_shows_the_summary_and_health_widgets_of_export_health(fixture_pages):
    computed, client, _, summary, _ = fixture_pages

    html = client.get(computed.url()).content.decode()

    for key in (
        "total_accounts",
        "total_users",
        "accounts_at_risk",
        "users_at_risk",
        "active_accounts",
        "new_leads",
        "new_accounts",
    ):
        shown = re.search(rf'data-testid="figure-{key}">([^<]+)<', html).group(1)
        assert shown == fmt.integer(summary[key]), key
    for metric, values in summary["health"].items():
        mean = re.search(rf'data-testid="mean-{metric}"[^>]*>([^<]+)<', html).group(1)
        assert mean == fmt.percent(values["mean"]), metric
        for band, count in values.items():
            if band != "mean":
                assert f'<th scope="row">{band}</th><td>{count}</td>' in html, (metric, band)


def test_it_shows_every_accounts_table_row_as_exported(fixture_pages):
    computed, client, accounts, _, _ = fixture_pages

    table = read_table(client.get(computed.url(ALL_COLUMNS)).content.decode())

    assert set(table.rows) == set(accounts)
    for account_id, row in accounts.items():
        expected = {
            "id": account_id,
            "name": row["name"] or account_id,
            "health": row["health"],
            "score": _percent(row["product_score"]),
            "cfu": _percent(row["core_feature_usage"]),
            "stickiness": _percent(row["stickiness"]),
            "coverage": _percent(row["active_user_coverage"]),
            "active_users": fmt.integer(int(row["active_users"])),
            "users_at_risk": fmt.integer(int(row["users_at_risk"])),
            "visits": fmt.integer(int(row["visits"])),
            "avg_session": fmt.duration(_number(row["avg_session_seconds"])),
            "avg_dau": fmt.decimal(float(row["avg_dau"])),
            "avg_wau": fmt.decimal(float(row["avg_wau"])),
            "users_lifetime": fmt.integer(int(row["users_lifetime"])),
            "visits_lifetime": fmt.integer(int(row["visits_lifetime"])),
            "product_first_seen": _local_day(row["product_first_seen"], computed),
            "product_last_seen": _local_day(row["product_last_seen"], computed),
            "last_seen": _local_day(row["last_seen"], computed),
            "created": row["created_date"] or fmt.NOT_AVAILABLE,
        }
        assert table.rows[account_id] == expected, account_id


def test_it_shows_every_accounts_drilldown_as_exported(fixture_pages):
    computed, client, accounts, _, drilldowns = fixture_pages
    base = computed.url()

    assert set(drilldowns) == set(accounts)
    for account_id, row in accounts.items():
        url = f"{base}accounts/{account_id}/"
        html = client.get(url).content.decode()
        assert figure(html, "Customer Since") == _local_day(row["product_first_seen"], computed)
        assert figure(html, "Total Visits") == fmt.integer(int(row["visits_lifetime"]))
        assert figure(html, "Total Users") == fmt.integer(int(row["users_lifetime"]))
        assert figure(html, "Users at Risk") == fmt.integer(int(row["users_at_risk"]))
        assert figure(html, "Average Session Duration") == fmt.duration(
            _number(row["avg_session_seconds"])
        )
        for key in KPIS:
            assert kpi_value(html, key) == _percent(row[key]), (account_id, key)
        assert f'data-testid="account-health">{row["health"]}<' in html

        lists = drilldowns[account_id]
        users = attribute_values(html, "data-user-id", within="users")
        assert users == lists["top_users_by_core"][:25], account_id
        features = attribute_values(html, "data-key", within="usage")
        assert features == [key for key, _ in lists["features"]][:10], account_id
        zero = attribute_values(html, "data-key", within="zero")
        assert zero == lists["zero_usage_features"][:50], account_id

        html = client.get(url, {"rank": "visits", "usage": "modules", "zero": "modules"}).content
        html = html.decode()
        users = attribute_values(html, "data-user-id", within="users")
        assert users == lists["top_users_by_visits"][:25], account_id
        modules = attribute_values(html, "data-key", within="usage")
        assert modules == [key for key, _ in lists["modules"]][:10], account_id
        zero = attribute_values(html, "data-key", within="zero")
        assert zero == lists["zero_usage_modules"][:50], account_id


def test_it_shows_the_usage_counts_of_export_health(fixture_pages):
    computed, client, _, _, drilldowns = fixture_pages

    for account_id, lists in drilldowns.items():
        html = client.get(f"{computed.url()}accounts/{account_id}/").content.decode()
        start = html.index('data-testid="usage"')
        section = html[start : html.index("</section>", start)]
        for key, events in lists["features"][:10]:
            start = section.index(f'<tr data-key="{key}">')
            row = section[start : section.index("</tr>", start)]
            assert f'<td class="text-end">{events}</td>' in row, (account_id, key)


def test_it_covers_every_conformance_fixture():
    assert sorted(path.name for path in fixture_dirs()) == sorted(FIXTURES)
