"""The explorer's account search and trait filters through SECURITY DEFINER functions
(accounts_explorer/migrations/0003): the same accounts as the ORM's lookups, of the
organization in scope only, nothing without one, and by the indexes the policy kept
from the application's own queries."""

from __future__ import annotations

import hashlib
import importlib
import json
from datetime import date

import pytest
from django.db import connection
from django.db.models import CharField, Func, Q
from django.db.models.fields.json import KeyTransform
from django.test.utils import CaptureQueriesContext

from ingestion.models import Account
from tests.explorer.conftest import seed_accounts, seed_portfolio
from tests.explorer.helpers import HTMX_TABLE, read_table
from vitals.tenancy.scope import tenant_scope

MIGRATION = importlib.import_module("accounts_explorer.migrations.0003_account_match_functions")
SEARCH_QUERY, TRAITS_QUERY = MIGRATION.SEARCH_QUERY, MIGRATION.TRAITS_QUERY
RANGE_QUERY = MIGRATION.RANGE_QUERY

pytestmark = pytest.mark.django_db

NAMES = [
    ("acc-1", "Acme Inc"),
    ("acc-2", "ACME labs"),
    ("acc-3", "acmé Straße"),
    ("acc-4", "100% Growth"),
    ("acc-5", "100 Growth"),
    ("acc-6", "under_score"),
    ("acc-7", "underXscore"),
    ("acc-8", "back\\slash"),
    ("acme-99", "Globex"),
    ("acc-10", ""),
]
SEARCHES = ["acme", "ACME", "AcMé", "100%", "r_s", "\\", "%", "_", "me l", "ACC-1", "zzz", "ß"]
TRAITS = [
    ("t-1", {"plan": "Pro", "seats": 42}),
    ("t-2", {"plan": "pro", "seats": "42"}),
    ("t-3", {"plan": "Pro", "seats": 7, "region": "EMEA"}),
    ("t-4", {"plan": ["Pro"], "seats": 42.0}),
    ("t-5", {}),
    ("t-6", ["plan", "Pro"]),
    ("t-7", {"nested": {"plan": "Pro"}}),
    ("e-1", {"employees": 50}),
    ("e-2", {"employees": 150}),
    ("e-3", {"employees": "300"}),
    ("e-4", {"employees": 300.5}),
    ("e-5", {"employees": None}),
    ("e-6", {"employees": [300]}),
    ("e-7", {"employees": 500}),
]
RANGES = [(100, 500), (100, None), (None, 300), (None, None), (1000, 10)]
FILTERS = [
    [{"plan": "Pro"}],
    [{"seats": "42"}, {"seats": 42}],
    [{"seats": 42}],
    [{"region": "EMEA"}, {"plan": "pro"}],
    [{"plan": "Enterprise"}],
]


def _accounts(organization, rows) -> dict[str, int]:
    with tenant_scope(organization):
        return {
            external_id: Account.objects.create(
                organization=organization,
                external_id=external_id,
                name=traits if isinstance(traits, str) else "",
                traits={} if isinstance(traits, str) else traits,
                first_seen_at="2026-01-01T00:00:00Z",
            ).pk
            for external_id, traits in rows
        }


def _search(text: str) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT vitals_account_search(%s)", [text])
        return {row[0] for row in cursor.fetchall()}


def _trait_range(trait: str, low: float | None, high: float | None) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT vitals_account_trait_range(%s, %s, %s)", [trait, low, high])
        return {row[0] for row in cursor.fetchall()}


def _traits_match(alternatives: list[dict]) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT vitals_account_traits_match(%s::jsonb[])",
            [[json.dumps(item) for item in alternatives]],
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.fixture
def accounts(org, other_org) -> tuple[dict[str, int], dict[str, int]]:
    """The same accounts in Acme and in Globex."""
    rows = [*NAMES, *TRAITS]
    return _accounts(org, rows), _accounts(other_org, rows)


def test_it_finds_what_the_orm_search_finds(org, accounts):
    with tenant_scope(org):
        for text in SEARCHES:
            expected = set(
                Account.objects.filter(
                    Q(name__icontains=text) | Q(external_id__icontains=text)
                ).values_list("pk", flat=True)
            )
            assert _search(text) == expected, text
        # Case-insensitive, literal wildcards, and the external id is searched too.
        ids, _ = accounts
        assert _search("acme") == {ids["acc-1"], ids["acc-2"], ids["acme-99"]}
        assert _search("100%") == {ids["acc-4"]}
        assert _search("r_s") == {ids["acc-6"]}
        assert _search("\\") == {ids["acc-8"]}


def test_it_matches_traits_as_the_orm_containment_does(org, accounts):
    with tenant_scope(org):
        for alternatives in FILTERS:
            condition = Q(pk__in=[])
            for item in alternatives:
                condition |= Q(traits__contains=item)
            expected = set(Account.objects.filter(condition).values_list("pk", flat=True))
            assert _traits_match(alternatives) == expected, alternatives
        ids, _ = accounts
        assert _traits_match([{"plan": "Pro"}]) == {ids["t-1"], ids["t-3"]}
        assert _traits_match([{"seats": "42"}, {"seats": 42}]) == {
            ids["t-1"],
            ids["t-2"],
            ids["t-4"],
        }


def test_it_keeps_a_numeric_trait_range_as_the_orm_comparison_does(org, accounts):
    with tenant_scope(org):
        for low, high in RANGES:
            # The explorer's former lookup: a number, compared as jsonb.
            rows = Account.objects.annotate(
                kind=Func(
                    KeyTransform("employees", "traits"),
                    function="jsonb_typeof",
                    output_field=CharField(),
                )
            ).filter(kind="number")
            if low is not None:
                rows = rows.filter(traits__employees__gte=low)
            if high is not None:
                rows = rows.filter(traits__employees__lte=high)
            expected = set(rows.values_list("pk", flat=True))
            assert _trait_range("employees", low, high) == expected, (low, high)
        ids, _ = accounts
        assert _trait_range("employees", 100, 500) == {ids["e-2"], ids["e-4"], ids["e-7"]}
        assert _trait_range("no such trait", None, None) == set()
        assert _trait_range("x'); DROP TABLE ingestion_account; --", 1, 2) == set()


def test_it_never_returns_another_organizations_accounts(org, other_org, accounts):
    acme, globex = accounts
    with tenant_scope(org):
        found = _search("a") | _search("acme") | _traits_match([{"plan": "Pro"}])
        found |= _trait_range("employees", None, None)
    assert found and found <= set(acme.values())
    with tenant_scope(other_org):
        found = _search("acme") | _traits_match([{"plan": "Pro"}])
        found |= _trait_range("employees", 0, 1000)
    assert found and found <= set(globex.values())


@pytest.mark.rls_enforced
def test_it_returns_nothing_without_an_organization(org, other_org):
    _accounts(org, NAMES)
    with tenant_scope(org):
        assert _search("acme")
    assert _search("acme") == set()
    assert _search("") == set()
    assert _traits_match([{}]) == set()
    assert _trait_range("employees", None, None) == set()


def test_the_explorer_search_and_trait_filters_read_through_them(
    alice_client, org, product, other_org, other_product
):
    as_of = date(2026, 6, 30)
    for organization, item in ((org, product), (other_org, other_product)):
        seed_portfolio(organization=organization, product=item, as_of=as_of)
        seed_accounts(organization=organization, product=item, as_of=as_of, count=120)
    with CaptureQueriesContext(connection) as captured:
        response = alice_client.get(
            "/o/acme/p/app/?last_seen=all&q=bulk+0001&plan=Pro&trait=seats%3D13&cols=name,id",
            headers=HTMX_TABLE,
        )
    assert response.status_code == 200
    # bulk-00010..00019 and bulk-00100..00119 with plan Pro (i % 3 == 1), seats 13 (i % 40).
    assert read_table(response.content.decode()).order == ["bulk-00013"]
    sql = " ".join(query["sql"] for query in captured.captured_queries)
    assert "vitals_account_search(" in sql and "vitals_account_traits_match(" in sql
    with connection.cursor() as cursor:  # employees = the account's number, as a number
        cursor.execute(
            "UPDATE ingestion_account SET traits = traits"
            " || jsonb_build_object('employees', substr(external_id, 6)::int)"
        )
    response = alice_client.get(
        "/o/acme/p/app/?last_seen=all&employees_min=10&employees_max=12.5&q=bulk&sort=-id",
        headers=HTMX_TABLE,
    )
    assert read_table(response.content.decode()).order == ["bulk-00012", "bulk-00011", "bulk-00010"]
    response = alice_client.get("/o/acme/p/app/?last_seen=all&employees_max=1", headers=HTMX_TABLE)
    assert read_table(response.content.decode()).order == ["bulk-00001", "bulk-00000"]


def _plan(function: str, query: str, organization, argument: str, kind: str = "") -> str:
    """The plan the function's statement gets: EXECUTE plans it with the call's values."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = %s", [function])
        source = cursor.fetchone()[0]
        assert query in source or RANGE_QUERY in source
        kind = kind or ("text" if function == "vitals_account_search" else "jsonb[]")
        cursor.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        cursor.execute(f"PREPARE definer_body(bigint, {kind}) AS {query}")
        try:
            cursor.execute(f"EXPLAIN EXECUTE definer_body({organization.pk}, {argument})")
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE definer_body")


def test_it_reads_a_selective_match_by_the_indexes(org, other_org):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'explorer_account_name_trgm'")
        if cursor.fetchone() is None:
            pytest.skip("pg_trgm is not available: prefix indexes instead")
        # 20,000 accounts of two organizations, arriving interleaved as a real table's
        # do; written as the owner (the functions run as the owner).
        cursor.execute(
            "INSERT INTO ingestion_account (organization_id, external_id, name, traits,"
            " first_seen_at) SELECT (ARRAY[%s, %s])[1 + i %% 2], 'acc-' || i,"
            " 'Company ' || md5(i::text),"
            " jsonb_build_object('plan', (ARRAY['Free', 'Pro'])[1 + i %% 3], 'seats', i,"
            " 'employees', i %% 5000),"
            " now() FROM generate_series(1, 20000) i",
            [org.pk, other_org.pk],
        )
        # What autovacuum does to a live table: the GIN indexes' pending rows merged.
        for index in ("name_trgm", "external_id_trgm", "traits"):
            cursor.execute(f"SELECT gin_clean_pending_list('explorer_account_{index}')")
        cursor.execute("ANALYZE ingestion_account")
    # A word of one account's name.
    word = hashlib.md5(b"4218").hexdigest()[:10]
    search = _plan("vitals_account_search", SEARCH_QUERY, org, f"'%{word.upper()}%'")
    assert "explorer_account_name_trgm" in search and "Seq Scan" not in search
    traits = _plan(
        "vitals_account_traits_match", TRAITS_QUERY, org, "ARRAY['{\"seats\": 4218}']::jsonb[]"
    )
    assert "explorer_account_traits" in traits and "Seq Scan" not in traits
    with connection.cursor() as cursor:
        cursor.execute("SELECT format(%s, 'employees')", [RANGE_QUERY])
        (statement,) = cursor.fetchone()
    ranged = _plan(
        "vitals_account_trait_range", statement, org, "4200, 4201", kind="float8, float8"
    )
    assert "explorer_trait_employees" in ranged and "Seq Scan" not in ranged
    with tenant_scope(org):
        assert len(_search(word)) == 1
        assert len(_traits_match([{"seats": 4218}])) == 1
