"""An organization's runs go one at a time: each reads the other products' daily rows and
refreshes their results for the day (Last Seen, Total Users), so two products computed at
once could each read the other's stale rows. tests/health/test_reference_random.py checks
the numbers after runs in turn; this checks that a second run waits for the first."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from django.db import connection

from health import services
from health.models import HealthRun
from health.services import health_compute
from tests.health.helpers import AS_OF, ingest_activity, org_product
from vitals.tenancy.scope import tenant_scope
from vitals.tenancy.services import product_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def other_session():
    """A second PostgreSQL session, standing for another worker's run."""
    params = connection.get_connection_params()
    for key in ("cursor_factory", "context", "server_side_binding", "prepare_threshold"):
        params.pop(key, None)
    with psycopg.connect(**params, autocommit=True) as session:
        yield session


def _run_status(product_id: int) -> str | None:
    run = HealthRun.dangerously_unscoped.filter(product_id=product_id).order_by("-pk").first()
    return run.status if run else None


def test_a_run_waits_while_another_run_of_its_organization_computes(other_session):
    app = org_product("serial", "UTC")
    mobile = product_create(organization=app.organization, key="mobile", name="Mobile")
    for product in (app, mobile):
        with tenant_scope(product.organization, product):
            ingest_activity(product)
    # Another worker computing the organization's other product (mobile).
    other_session.execute(
        "SELECT pg_advisory_lock(%s, %s)",
        [services._ORGANIZATION_LOCK_NAMESPACE, app.organization_id],
    )
    failures: list[BaseException] = []

    def compute_app() -> None:
        try:
            with tenant_scope(app.organization, app):
                health_compute(product=app, as_of=AS_OF)
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)
        finally:
            connection.close()

    worker = threading.Thread(target=compute_app)
    worker.start()
    deadline = time.monotonic() + 30
    while _run_status(app.pk) != HealthRun.Status.RUNNING and time.monotonic() < deadline:
        time.sleep(0.1)
    worker.join(timeout=2)
    assert worker.is_alive() and _run_status(app.pk) == HealthRun.Status.RUNNING

    other_session.execute("SELECT pg_advisory_unlock_all()")
    worker.join(timeout=120)
    assert not worker.is_alive() and failures == []
    assert _run_status(app.pk) == HealthRun.Status.DONE
