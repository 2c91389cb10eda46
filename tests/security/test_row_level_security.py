"""PostgreSQL Row-Level Security, the second wall: whatever SQL runs, a transaction sees and
writes only the rows of the organization in its tenant scope, and nothing without one.

The application works as `vitals_app` (migration tenancy/0002); these tests hold every
tenant table to the policy in the catalogue and show what queries actually see.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import ProgrammingError, connection, transaction

from tests.health.helpers import command, compute, fixture, fixture_config, ingest_file
from vitals.tenancy.models import Organization, Product
from vitals.tenancy.rls import APP_ROLE, rls_active, tenant_tables
from vitals.tenancy.scope import rls_bypass, tenant_scope
from vitals.tenancy.services import organization_create, product_create

pytestmark = [pytest.mark.django_db, pytest.mark.rls_enforced]


def _one(sql: str, params: list | None = None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _run(sql: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _all(sql: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _rowcount(sql: str, params: list | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


@pytest.fixture
def two_orgs() -> tuple[Product, Product]:
    acme = organization_create(slug="acme", name="Acme")
    globex = organization_create(slug="globex", name="Globex")
    return (
        product_create(organization=acme, key="app", name="Acme App"),
        product_create(organization=globex, key="app", name="Globex App"),
    )


INSERT_PRODUCT = (
    "INSERT INTO tenancy_product (organization_id, key, name, created_at)"
    " VALUES (%s, %s, %s, now())"
)


# --- the catalogue -----------------------------------------------------------------------


def test_it_covers_every_tenant_table_with_enable_force_and_the_policy():
    # A partition exists, made at run time the way ingestion makes them.
    _one("SELECT vitals_ensure_event_partition('2026-01-15')")
    tables = tenant_tables(connection)
    assert {"ingestion_event", "ingestion_event_202601", "health_user_day"} <= set(tables)
    assert {"tenancy_membership", "tenancy_writekey", "settings_admin_auditentry"} <= set(tables)
    assert [name for name, covered in tables.items() if not covered] == []
    assert len(tables) >= 29


def test_it_names_a_tenant_table_a_migration_forgot():
    with rls_bypass("the owner creates a table, as a migration would"):
        _run("CREATE TABLE forgotten_thing (id bigint, organization_id bigint)")
        assert tenant_tables(connection)["forgotten_thing"] is False
        _one("SELECT vitals_rls_protect('forgotten_thing')")
        assert tenant_tables(connection)["forgotten_thing"] is True


def test_it_works_as_a_role_that_owns_nothing_and_cannot_bypass():
    assert rls_active(connection)
    assert _one("SELECT current_user, session_user <> current_user") == (APP_ROLE, True)
    role = _one(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles"
        " WHERE rolname = %s",
        [APP_ROLE],
    )
    assert role == (False, False, False, False)
    owned = _one(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relowner = %s::regrole AND n.nspname NOT LIKE 'pg_temp%%'",
        [APP_ROLE],
    )
    assert owned == (0,)
    assert _one("SELECT count(*) FROM pg_proc WHERE proowner = %s::regrole", [APP_ROLE]) == (0,)
    # Nor may it create tables, truncate (which ignores the policies) or analyze.
    for statement in ("CREATE TABLE sneaky (id int)", "TRUNCATE tenancy_product"):
        with pytest.raises(ProgrammingError), transaction.atomic():
            _run(statement)


# Every SECURITY DEFINER function of the schema: each is reviewed and listed in
# docs/security.md. A new one is added here on purpose, not by accident.
DEFINER_FUNCTIONS = {
    # tenancy/0002 and ingestion/0007: maintenance the application role may not do
    "vitals_analyze",
    "vitals_event_statistics_ready",
    "vitals_ensure_event_partition",
    # health/0011
    "vitals_summarize_event_ranges",
    # tenancy/0004: reads before a scope exists or across organizations
    "vitals_membership_for",
    "vitals_memberships_of_user",
    "vitals_write_key_lookup",
    "vitals_api_token_lookup",
    "vitals_health_run_organization",
    "vitals_health_schedule_products",
    "vitals_health_run_statuses",
    "vitals_health_runs_lost",
    # accounts_explorer/0003: the organization in scope's matches, by its indexes
    "vitals_account_search",
    "vitals_account_traits_match",
    "vitals_account_trait_range",
}


def test_it_knows_every_security_definer_function_and_locks_each_down():
    rows = _all(
        "SELECT p.proname, p.proconfig, pg_get_userbyid(p.proowner),"
        " has_function_privilege('public', p.oid, 'EXECUTE'),"
        " has_function_privilege(%s, p.oid, 'EXECUTE')"
        " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'public' AND p.prosecdef",
        [APP_ROLE],
    )
    assert {name for name, *_ in rows} == DEFINER_FUNCTIONS
    for name, config, owner, public, app in rows:
        # A fixed search_path with the temporary schema last (unlisted, it comes first).
        paths = [item for item in config or [] if item.startswith("search_path=")]
        assert len(paths) == 1 and paths[0].endswith("pg_temp"), (name, config)
        assert owner != APP_ROLE, name
        assert (public, app) == (False, True), name


# --- no organization: nothing --------------------------------------------------------------


def test_it_sees_and_writes_nothing_without_an_organization(two_orgs):
    acme_app, globex_app = two_orgs
    assert _one("SELECT current_setting('vitals.organization_id', true)")[0] in (None, "")
    assert _one("SELECT count(*) FROM tenancy_product") == (0,)
    assert list(Product.dangerously_unscoped.all()) == []
    assert _rowcount("UPDATE tenancy_product SET name = 'taken'") == 0
    assert _rowcount("DELETE FROM tenancy_product") == 0
    with pytest.raises(ProgrammingError, match="row-level security"), transaction.atomic():
        _one(INSERT_PRODUCT + " RETURNING id", [acme_app.organization_id, "x", "X"])
    with rls_bypass("the test checks nothing changed"):
        assert sorted(Product.dangerously_unscoped.values_list("name", flat=True)) == [
            "Acme App",
            "Globex App",
        ]


def test_it_shows_one_organization_only_its_own_rows(two_orgs):
    acme_app, globex_app = two_orgs
    with tenant_scope(acme_app.organization):
        assert _all("SELECT id FROM tenancy_product") == [(acme_app.pk,)]
        assert list(Product.dangerously_unscoped.all()) == [acme_app]
        assert (
            _rowcount("UPDATE tenancy_product SET name = 'taken' WHERE id = %s", [globex_app.pk])
            == 0
        )
        assert _rowcount("DELETE FROM tenancy_product WHERE id = %s", [globex_app.pk]) == 0
        with pytest.raises(ProgrammingError, match="row-level security"), transaction.atomic():
            _run(INSERT_PRODUCT, [globex_app.organization_id, "x", "X"])
        # Nor can a row be moved into another organization.
        with pytest.raises(ProgrammingError, match="row-level security"), transaction.atomic():
            _run(
                "UPDATE tenancy_product SET organization_id = %s WHERE id = %s",
                [globex_app.organization_id, acme_app.pk],
            )
    with tenant_scope(globex_app.organization):
        assert _all("SELECT id, name FROM tenancy_product") == [(globex_app.pk, "Globex App")]


def test_it_reads_the_setting_once_per_query_not_per_row(two_orgs):
    # Migration tenancy/0003: the policy's setting is an InitPlan, not a per-row call in the
    # scan's filter (which made event scans half again as dear).
    acme_app, _ = two_orgs
    _one("SELECT vitals_ensure_event_partition('2026-01-15')")
    with tenant_scope(acme_app.organization):
        plan = "\n".join(
            row[0] for row in _all("EXPLAIN SELECT count(*) FROM ingestion_event_202601")
        )
    assert "InitPlan" in plan, plan
    filters = [line for line in plan.splitlines() if "Filter:" in line or "Cond:" in line]
    assert filters and all("current_setting" not in line for line in filters), plan


def test_it_refuses_a_partition_queried_directly(two_orgs):
    acme_app, globex_app = two_orgs
    _one("SELECT vitals_ensure_event_partition('2026-01-15')")
    insert = (
        "INSERT INTO ingestion_event (organization_id, product_id, event_time, received_at,"
        " type, message_id, raw) VALUES (%s, %s, '2026-01-15', now(), 1, %s, '{}')"
    )
    for product in two_orgs:
        with tenant_scope(product.organization):
            _run(insert, [product.organization_id, product.pk, f"m-{product.pk}"])
    assert _one("SELECT count(*) FROM ingestion_event_202601") == (0,)
    with tenant_scope(acme_app.organization):
        assert _all("SELECT product_id FROM ingestion_event_202601") == [(acme_app.pk,)]
        assert _all("SELECT product_id FROM ingestion_event") == [(acme_app.pk,)]


# --- every tenant table, filled by the real pipeline ------------------------------------------


def _import_as(tmp_path: Path, slug: str) -> None:
    config = fixture_config("basic")
    config["organization"] = {**config["organization"], "slug": slug, "name": slug.title()}
    path = tmp_path / f"{slug}.json"
    path.write_text(json.dumps(config))
    command("import_config", str(path))


def test_it_keeps_every_tenant_table_to_its_organization(tmp_path):
    """Two organizations through import, ingestion and health; then for every tenant
    table: nothing is visible without a scope, and in Acme's scope exactly Acme's rows."""
    for slug in ("acme", "globex"):
        _import_as(tmp_path, slug)
        ingest_file(fixture("basic") / "events.jsonl", slug, "app")
        compute(slug, "app", "2026-10-31")
    acme = Organization.objects.get(slug="acme")
    filled = []
    for table in tenant_tables(connection):
        with rls_bypass("the test counts the truth"):
            truth = dict(_all(f"SELECT organization_id, count(*) FROM {table} GROUP BY 1"))
        assert _one(f"SELECT count(*) FROM {table}") == (0,), table
        with tenant_scope(acme):
            seen = dict(_all(f"SELECT organization_id, count(*) FROM {table} GROUP BY 1"))
        assert seen == ({acme.pk: truth[acme.pk]} if acme.pk in truth else {}), table
        if len(truth) == 2:
            filled.append(table)
    # Not vacuous: the pipeline filled most tables for both organizations.
    assert {
        "ingestion_event",
        "ingestion_enduser",
        "ingestion_account",
        "ingestion_seenmessage",
        "health_user_day",
        "health_pair_state",
        "health_account_state",
        "health_account_day",
        "health_accounthealth",
        "health_portfoliohealth",
        "health_feature",
        "settings_admin_auditentry",
        "tenancy_product",
    } <= set(filled)


# --- how the setting travels ---------------------------------------------------------------


def test_it_sets_the_organization_per_transaction_and_follows_the_scope(two_orgs):
    acme_app, globex_app = two_orgs
    setting = "SELECT current_setting('vitals.organization_id', true), current_user"
    with tenant_scope(acme_app.organization):
        assert _one(setting) == (str(acme_app.organization_id), APP_ROLE)
        with tenant_scope(globex_app.organization):
            assert _one(setting) == (str(globex_app.organization_id), APP_ROLE)
        with rls_bypass("the test"):
            assert _one(setting)[1] != APP_ROLE
        assert _one(setting) == (str(acme_app.organization_id), APP_ROLE)
    assert _one(setting)[0] == ""


def test_it_sends_the_setting_again_after_a_savepoint_rollback(two_orgs):
    acme_app, globex_app = two_orgs
    with tenant_scope(globex_app.organization):
        assert _all("SELECT id FROM tenancy_product") == [(globex_app.pk,)]
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            with tenant_scope(acme_app.organization):
                assert _all("SELECT id FROM tenancy_product") == [(acme_app.pk,)]
            with tenant_scope(globex_app.organization):
                _all("SELECT id FROM tenancy_product")
                1 / 0  # noqa: B018
        # The rollback undid the savepoint's settings: Globex's is sent again.
        assert _all("SELECT id FROM tenancy_product") == [(globex_app.pk,)]


@pytest.mark.django_db(transaction=True)
def test_it_wraps_a_statement_outside_a_transaction_in_one(two_orgs):
    acme_app, globex_app = two_orgs
    assert connection.get_autocommit()
    with tenant_scope(acme_app.organization):
        assert list(Product.objects.values_list("pk", flat=True)) == [acme_app.pk]
        assert _all("SELECT id FROM tenancy_product") == [(acme_app.pk,)]
    # Nothing outlives the statement's transaction.
    assert _one("SELECT current_setting('vitals.organization_id', true), current_user") in (
        ("", APP_ROLE),
        (None, APP_ROLE),
    )
    assert _one("SELECT count(*) FROM tenancy_product") == (0,)
    with rls_bypass("the test"):
        assert _one("SELECT count(*) FROM tenancy_product") == (2,)
    assert _one("SELECT current_user") == (APP_ROLE,)


# --- write keys ------------------------------------------------------------------------------


def test_it_stores_a_write_key_s_events_in_its_own_product_only(client, two_orgs):
    """Product B of the same organization (where the policy cannot tell them apart) and
    of another organization: a key of product A writes into A, whatever the body says."""
    import base64

    import orjson

    from vitals.tenancy.services import write_key_create

    acme_app, globex_app = two_orgs
    acme_crm = product_create(organization=acme_app.organization, key="crm", name="Acme CRM")
    _, key_a = write_key_create(product=acme_app)
    _, key_crm = write_key_create(product=acme_crm)
    _, key_globex = write_key_create(product=globex_app)
    for index, other_key in enumerate((key_crm, key_globex)):
        message = {
            "type": "track",
            "event": "Report Exported",
            "userId": "u1",
            "messageId": f"m-{index}",
            "timestamp": "2026-01-05T10:00:00Z",
            "writeKey": other_key,
            "context": {"productId": 1, "organizationId": 1},
        }
        auth = base64.b64encode(f"{key_a}:".encode()).decode()
        response = client.post(
            "/v1/batch",
            data=orjson.dumps({"batch": [message], "writeKey": other_key}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Basic {auth}",
        )
        assert response.json()["accepted"] == 1
    with rls_bypass("the test reads every organization's events"):
        stored = _all("SELECT organization_id, product_id FROM ingestion_event")
    assert stored == [(acme_app.organization_id, acme_app.pk)] * 2
    # And the database refuses product A's organization writing another organization's rows.
    with tenant_scope(acme_app.organization, acme_app):
        with pytest.raises(ProgrammingError, match="row-level security"), transaction.atomic():
            _run(
                "INSERT INTO ingestion_event (organization_id, product_id, event_time,"
                " received_at, type, message_id, raw)"
                " VALUES (%s, %s, '2026-01-05', now(), 1, 'forged', '{}')",
                [globex_app.organization_id, globex_app.pk],
            )
