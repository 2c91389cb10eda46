"""Advanced filters: each narrows the table to the rows its rule keeps, they AND
together, show as removable chips, live in the URL and drop out when invalid."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from accounts_explorer.filters import ADVANCED_FILTERS, explorer_state_from
from health.models import RollupState
from ingestion.models import Account
from tests.explorer.conftest import seed_accounts, seed_portfolio
from tests.explorer.helpers import HTMX_TABLE, read_table
from vitals.tenancy.scope import tenant_scope

AS_OF = date(2026, 6, 30)
BASE = "/o/acme/p/app/"
N = 60


@pytest.fixture
def seeded(alice, org, product):
    seed_portfolio(organization=org, product=product, as_of=AS_OF)
    seed_accounts(organization=org, product=product, as_of=AS_OF, count=N)
    with tenant_scope(org, product):
        for i in range(N):
            account = Account.objects.get(external_id=f"bulk-{i:05d}")
            account.traits = {
                **account.traits,
                "industry": ["Retail", "Software"][i % 2],
                "country": "DE" if i < 30 else "FR",
                "region": "EMEA",
                # employees: numbers, but also a string and a missing value
                **({"employees": i * 10} if i % 10 else {"employees": "many"}),
                "inferred_revenue": i * 1000,
                "tier": "gold" if i % 6 == 0 else "silver",
            }
            account.save()
        # Feature "export" (module "reports") last used in W by accounts 0-9, before W by
        # accounts 10-19; the others never. The state's arrays are by catalog position.
        RollupState.objects.create(
            organization=org,
            product=product,
            usage_features=["dashboards", "export"],
            usage_modules=["reports"],
        )
        with connection.cursor() as cursor:
            for i in range(20):
                day = (AS_OF if i < 10 else AS_OF - timedelta(days=30)).isoformat()
                cursor.execute(
                    "INSERT INTO health_account_state (organization_id, product_id, account_pk,"
                    " mau_w, mau_p, items_w, items_p, history_w, history_p, risk_w, risk_p,"
                    " users_lifetime, dau_w, dau_p, wau_w, wau_p, visits_w, visits_p, seconds_w,"
                    " seconds_p, visits_lifetime, feature_last, module_last)"
                    " VALUES (%s, %s, %s, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,"
                    " ARRAY[NULL, %s::date], ARRAY[%s::date])",
                    [
                        org.pk,
                        product.pk,
                        Account.objects.get(external_id=f"bulk-{i:05d}").pk,
                        day,
                        day,
                    ],
                )
    cache.clear()
    return org, product


def shown(client, query: str) -> set[int]:
    """The account numbers on screen (all rows fit on two pages)."""
    ids: set[int] = set()
    for page in (1, 2):
        html = client.get(f"{BASE}?last_seen=all&{query}&page={page}", headers=HTMX_TABLE)
        ids |= {int(a[-5:]) for a in read_table(html.content.decode()).order}
    return ids


def expected(rule) -> set[int]:
    return {i for i in range(N) if rule(i)}


CASES = [
    ("plan=Pro", lambda i: i % 3 == 1),
    ("industry=Software", lambda i: i % 2 == 1),
    ("country=FR&region=EMEA", lambda i: i >= 30),
    ("employees_min=100&employees_max=250", lambda i: 10 <= i <= 25 and i % 10),
    ("revenue_min=55000", lambda i: i >= 55),
    ("score_min=30&score_max=60", lambda i: 30 <= (i * 3) % 100 <= 60),
    ("cfu_max=20.5", lambda i: (i * 11) % 100 <= 20.5),
    ("stickiness_min=50", lambda i: (i * 7) % 100 >= 50),
    ("coverage_min=90", lambda i: (i * 13) % 100 >= 90),
    ("active_users_min=15", lambda i: i % 17 >= 15),
    ("users_min=3&users_max=4", lambda i: 3 <= i % 20 <= 4),
    ("cfu_band=Low", lambda i: True),
    ("stickiness_band=High", lambda i: False),
    ("last_seen_from=2026-06-20", lambda i: i % 60 <= 10),
    ("last_seen_to=2026-05-31", lambda i: i % 60 >= 30),
    ("first_seen_from=2025-09-03&first_seen_to=2025-09-03", lambda i: True),
    ("used_feature=export", lambda i: i < 10),
    ("unused_feature=export", lambda i: i >= 10),
    ("used_module=reports", lambda i: i < 10),
    ("unused_module=reports", lambda i: i >= 10),
    ("trait=tier%3Dgold", lambda i: i % 6 == 0),
    ("trait=seats%3D5", lambda i: i % 40 == 5),
    ("trait=tier%3Dgold&trait=country%3DDE", lambda i: i % 6 == 0 and i < 30),
    (
        "plan=Pro&score_min=50&unused_feature=export",
        lambda i: i % 3 == 1 and (i * 3) % 100 >= 50 and i >= 10,
    ),
]


@pytest.mark.parametrize(("query", "rule"), CASES)
def test_it_keeps_the_rows_the_filters_describe(alice_client, seeded, query, rule):
    assert shown(alice_client, query) == expected(rule)


def test_it_shows_each_filter_as_a_chip_that_removes_only_itself(alice_client, seeded):
    html = alice_client.get(
        f"{BASE}?last_seen=all&plan=Pro&score_min=50&trait=tier%3Dgold&sort=name"
    ).content.decode()

    assert "Remove filter: Plan: Pro" in html
    assert "Remove filter: Product Score ≥ 50%" in html
    assert "Remove filter: Trait tier = gold" in html
    assert 'href="?last_seen=all&amp;score_min=50&amp;trait=tier%3Dgold&amp;sort=name"' in html


def test_it_carries_the_filters_through_sorting_paging_and_the_export_link(alice_client, seeded):
    html = alice_client.get(f"{BASE}?last_seen=all&industry=Retail").content.decode()

    assert 'href="?last_seen=all&amp;industry=Retail&amp;sort=name"' in html
    assert "export.csv?last_seen=all&amp;industry=Retail" in html
    assert 'name="industry" value="Retail"' in html  # the filter form shows the value


def test_it_drops_invalid_filters_instead_of_failing(alice_client, seeded):
    state = explorer_state_from(
        QueryDict(
            "score_min=lots&cfu_band=Purple&first_seen_from=yesterday&trait=novalue&plan=Pro"
        ),
        valid_columns={"name"},
    )

    assert state.filters == (("plan", "Pro"),)
    response = alice_client.get(f"{BASE}?score_min=lots&used_feature=&trait=x")
    assert response.status_code == 200


def test_it_knows_every_filter_it_offers(seeded):
    assert len(ADVANCED_FILTERS) == len(set(ADVANCED_FILTERS)) == 32


def test_it_counts_quick_filters_within_the_advanced_filters(alice_client, seeded):
    html = alice_client.get(f"{BASE}?last_seen=all&plan=Pro", headers=HTMX_TABLE)

    assert "1–20 of 20 accounts" in html.content.decode()


def test_it_filters_in_the_same_number_of_queries_as_the_plain_table(alice_client, seeded):
    def queries(query: str) -> int:
        cache.clear()
        with CaptureQueriesContext(connection) as context:
            response = alice_client.get(f"{BASE}?{query}", headers=HTMX_TABLE)
        assert response.status_code == 200
        return len(context.captured_queries)

    plain = queries("last_seen=all")
    every_kind = (
        "last_seen=all&plan=Pro&employees_min=1&score_min=1&cfu_band=Low"
        "&first_seen_from=2025-01-01&unused_feature=export&trait=tier%3Dsilver"
    )

    assert queries(every_kind) == plain


@pytest.mark.parametrize(
    "query",
    [
        "first_seen_from=0001-01-01&last_seen_to=9999-12-31",
        "trait=a%3D%00b&plan=%00",
        "score_min=1e400&users_max=-1e30&employees_min=NaN",
        "trait=" + "%3D".join(["k"] * 300),
    ],
)
def test_it_answers_odd_values_without_an_error(alice_client, seeded, query):
    assert alice_client.get(f"{BASE}?{query}").status_code == 200
    assert alice_client.get(f"{BASE}export.csv?{query}").status_code == 200
