"""Running the health engine: one run at a time per product, switched live atomically."""

from __future__ import annotations

from datetime import date

from django.db import connection, transaction
from django.utils import timezone

from health.engine import health_compute_sql
from health.models import HealthRun
from vitals.tenancy.models import Product

# Namespaces the advisory lock: (this, product id) is the lock of one product's runs.
_LOCK_NAMESPACE = 7_310_002


class HealthRunBusy(RuntimeError):
    """Another run of the same product holds the lock."""


def health_compute(
    *, product: Product, as_of: date, full: bool = False, run: HealthRun | None = None
) -> HealthRun:
    """Compute a product's health as of a day and make it live in one transaction.

    A crash rolls everything back, so the previous results stay visible and a rerun
    starts from the same state. The run itself is recorded outside that transaction.
    """
    if run is None:
        run = HealthRun.objects.create(
            organization_id=product.organization_id, product=product, as_of=as_of, full=full
        )
    run.status, run.started_at, run.error = HealthRun.Status.RUNNING, timezone.now(), ""
    run.save(update_fields=["status", "started_at", "error"])
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_try_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, product.pk]
                )
                if not cursor.fetchone()[0]:
                    raise HealthRunBusy(f"a health run of product {product.pk} is in progress")
                # Rollups are big sorts and hash joins: give this transaction room.
                cursor.execute("SET LOCAL work_mem = '256MB'")
            rows = health_compute_sql(product=product, as_of=as_of, full=full)
    except Exception as exc:
        run.status, run.finished_at = HealthRun.Status.FAILED, timezone.now()
        run.error = f"{type(exc).__name__}: {exc}"[:2000]
        run.save(update_fields=["status", "finished_at", "error"])
        raise
    run.status, run.finished_at, run.rows = HealthRun.Status.DONE, timezone.now(), rows
    run.save(update_fields=["status", "finished_at", "rows"])
    return run
