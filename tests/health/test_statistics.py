"""A rebuild gives the planner the rows it just wrote before joining them: planned on an
empty table's statistics, the state updates of a first full run at 10,000 accounts became
nested loops that ran for 20 minutes (docs/benchmarks.md, 2026-12-05)."""

from __future__ import annotations

import pytest
from django.db import connection

from health.services import health_compute
from tests.health.helpers import AS_OF, ingest_activity, org_product
from vitals.tenancy.scope import rls_bypass, tenant_scope

pytestmark = pytest.mark.django_db

STATE_TABLES = ("health_pair_state", "health_account_state", "health_account_day")


def _planner_rows() -> dict[str, tuple[float, int]]:
    """Per table: the row count the planner believes, and the true one."""
    found = {}
    with rls_bypass("the test compares statistics with the rows"), connection.cursor() as cursor:
        for table in STATE_TABLES:
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
            believed = cursor.fetchone()[0]
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 (our table names)
            found[table] = (believed, cursor.fetchone()[0])
    return found


def test_a_full_run_leaves_the_planner_the_state_tables_true_size() -> None:
    product = org_product("stats", "UTC")
    with tenant_scope(product.organization, product):
        ingest_activity(product)
        health_compute(product=product, as_of=AS_OF, full=True)
    rows = _planner_rows()
    assert all(true > 0 for _, true in rows.values()), rows
    assert {table: believed for table, (believed, _) in rows.items()} == {
        table: float(true) for table, (_, true) in rows.items()
    }
