"""CSV export: the rows and columns on screen (every page), streamed, Excel-safe."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts_explorer import formatting as fmt
from accounts_explorer.columns import COLUMNS
from accounts_explorer.exports import neutralise
from ingestion.models import Account
from tests.explorer.conftest import seed_accounts, seed_portfolio
from tests.explorer.helpers import HTMX_TABLE, read_table
from vitals.tenancy.scope import tenant_scope

AS_OF = date(2026, 6, 30)
BASE = "/o/acme/p/app/"
PERCENT = {"score", "cfu", "stickiness", "coverage"}
TIMESTAMPS = {"product_last_seen", "product_first_seen", "last_seen"}
COMBINATIONS = [
    "",
    "?health=healthy&sort=name",
    "?last_seen=all&sort=-score&cols=id,plan,score,trait.seats,product_last_seen,avg_session",
    "?last_seen=all&plan=Pro&score_min=20&sort=trait.seats&cols=name,trait.seats,cfu,created",
    "?q=bulk%200&trait=seats%3D5&last_seen=all&sort=-visits&cols=visits,avg_dau,users_lifetime",
    "?stickiness_max=60.5&first_seen_from=2025-01-01&sort=product_last_seen",
]


@pytest.fixture
def seeded(alice, org, product):
    seed_portfolio(organization=org, product=product, as_of=AS_OF)
    seed_accounts(organization=org, product=product, as_of=AS_OF, count=70)
    return org, product


def export(client, query: str = "", **extra: str) -> tuple[list[str], list[list[str]], bytes]:
    params = "&".join(f"{k}={v}" for k, v in extra.items())
    separator = "&" if query else "?"
    url = f"{BASE}export.csv{query}{separator + params if params else ''}"
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="accounts-acme-app-')
    body = b"".join(response.streaming_content)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    return rows[0], rows[1:], body


def screen(client, query: str) -> tuple[list[str], list[list[str]]]:
    """Every page of the table, as the cells a person reads."""
    headers, rows, page = [], [], 1
    while True:
        separator = "&" if query else "?"
        html = client.get(f"{BASE}{query}{separator}page={page}", headers=HTMX_TABLE)
        table = read_table(html.content.decode())
        headers = table.headers
        rows += [[table.rows[a].get(key, "") for key in headers] for a in table.order]
        if f"Page {page} of {page}" in html.content.decode() or not table.order:
            return headers, rows
        page += 1


def shown(key: str, value: str) -> str:
    """An exported value as the table shows it."""
    if value == "":
        return fmt.NOT_AVAILABLE
    if key in PERCENT:
        return fmt.percent(float(value))
    if key in TIMESTAMPS:
        return value[:10]  # Acme is in UTC
    if key == "avg_session":
        return fmt.duration(float(value))
    if key in ("avg_dau", "avg_wau"):
        return fmt.decimal(float(value))
    if value.lstrip("-").isdigit():
        return fmt.integer(int(value))
    return value


@pytest.mark.parametrize("query", COMBINATIONS)
def test_it_exports_the_rows_and_columns_on_screen(alice_client, seeded, query):
    keys, rows = screen(alice_client, query)
    header, exported, _ = export(alice_client, query)

    labels = {**{k: c.label for k, c in COLUMNS.items()}, "trait.seats": "seats"}
    assert header == [labels[k] + (" (seconds)" if k == "avg_session" else "") for k in keys]
    assert [[shown(k, v) for k, v in zip(keys, row, strict=True)] for row in exported] == rows
    assert rows, "each combination shows some rows"


def test_it_exports_every_column_with_all(alice_client, seeded):
    header, rows, _ = export(alice_client, "?last_seen=all&cols=id,score", all="1")

    assert header[:2] == ["Account ID", "Product Score"]
    assert len(header) == len(COLUMNS) + 1  # and the custom trait "seats"
    assert "seats" in header and "Avg. Session (seconds)" in header
    assert len(rows) == 70


def test_it_writes_iso_dates_utc_timestamps_and_unrounded_percentages(alice_client, seeded):
    header, rows, _ = export(
        alice_client, "?last_seen=all&sort=id&cols=id,score,product_last_seen,created,cfu"
    )

    first = dict(zip(["id", "score", "seen", "created", "cfu"], rows[1], strict=True))
    assert first == {
        "id": "bulk-00001",
        "score": "3.0",
        "seen": "2026-06-29T00:00:00Z",
        "created": "2026-06-29",
        "cfu": "11.0",
    }


def test_it_adds_a_bom_for_excel_only_when_asked(alice_client, seeded):
    *_, plain = export(alice_client, "?cols=id")
    *_, excel = export(alice_client, "?cols=id", bom="1")

    assert not plain.startswith(b"\xef\xbb\xbf")
    assert excel.startswith(b"\xef\xbb\xbf")
    assert excel[3:] == plain


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Acme = good", "Acme = good"),
    ],
)
def test_it_neutralises_a_formula(text, expected):
    assert neutralise(text) == expected


def test_it_neutralises_formulas_in_names_and_traits_but_not_negative_numbers(
    alice_client, seeded, org
):
    with tenant_scope(org):
        Account.objects.filter(external_id="bulk-00000").update(
            name="=cmd|' /C calc'!A0", traits={"plan": "@evil", "seats": -3}
        )
        Account.objects.filter(external_id="bulk-00001").update(name="-1+1", traits={"plan": "+x"})

    header, rows, _ = export(alice_client, "?last_seen=all&sort=id&cols=name,plan,trait.seats")

    assert rows[0] == ["'=cmd|' /C calc'!A0", "'@evil", "-3"]
    assert rows[1] == ["'-1+1", "'+x", ""]


def test_it_streams_with_a_constant_number_of_queries(alice_client, alice, org, product):
    seed_portfolio(organization=org, product=product, as_of=AS_OF)

    def queries() -> int:
        cache.clear()
        with CaptureQueriesContext(connection) as context:
            response = alice_client.get(f"{BASE}export.csv?last_seen=all&plan=Pro&all=1")
            b"".join(response.streaming_content)
        return len(context.captured_queries)

    seed_accounts(organization=org, product=product, as_of=AS_OF, count=10)
    small = queries()
    seed_accounts(organization=org, product=product, as_of=AS_OF, count=300, start=10)
    large = queries()

    assert small == large


def test_it_answers_404_to_an_outsider(charlie_client, seeded):
    assert charlie_client.get(f"{BASE}export.csv").status_code == 404


def test_it_lets_a_member_export(bob_client, seeded):
    header, rows, _ = export(bob_client, "?last_seen=all&cols=id")

    assert header == ["Account ID"] and len(rows) == 70


def test_it_sends_an_anonymous_visitor_to_log_in(client, seeded):
    response = client.get(f"{BASE}export.csv")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_it_exports_only_the_header_before_the_first_health_run(alice_client, alice):
    header, rows, _ = export(alice_client, "?cols=id,score")

    assert header == ["Account ID", "Product Score"]
    assert rows == []
