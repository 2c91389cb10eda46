"""Running the health engine: one run at a time per product, switched live atomically."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import date, timedelta
from functools import partial

from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from health.engine import health_compute_sql
from health.models import HealthRun
from vitals.tenancy.models import Product
from vitals.tenancy.scope import tenant_scope

# Namespaces the advisory lock: (this, product id) is the lock of one product's runs.
_LOCK_NAMESPACE = 7_310_002
_ORGANIZATION_LOCK_NAMESPACE = 7_310_004


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
        event_ranges_summarize()
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_try_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, product.pk]
                )
                if not cursor.fetchone()[0]:
                    raise HealthRunBusy(f"a health run of product {product.pk} is in progress")
                # One run of an organization at a time: each reads the other products'
                # daily rows and refreshes their results for the day (Last Seen, Total
                # Users: evaluate.siblings_refresh), so after every product's run all are
                # exact, in any order. Waits; the product lock above never does.
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)",
                    [_ORGANIZATION_LOCK_NAMESPACE, product.organization_id],
                )
                # Rollups are big sorts and hash joins: give this transaction room. JIT
                # compiles hundreds of expressions per statement here and costs more than
                # it saves on these one-off analytical statements.
                cursor.execute("SET LOCAL work_mem = '512MB'")
                cursor.execute("SET LOCAL jit = off")
            rows = health_compute_sql(product=product, as_of=as_of, full=full)
    except Exception as exc:
        run.status, run.finished_at = HealthRun.Status.FAILED, timezone.now()
        run.error = f"{type(exc).__name__}: {exc}"[:2000]
        run.save(update_fields=["status", "finished_at", "error"])
        raise
    run.status, run.finished_at, run.rows = HealthRun.Status.DONE, timezone.now(), rows
    run.save(update_fields=["status", "finished_at", "rows"])
    return run


def event_ranges_summarize() -> int:
    """Summarize the event partitions' new BRIN ranges, so the run reads only the days it
    needs (health migration 0011). In its own short transaction: the summary takes a
    self-conflicting lock on each partition that the runs of other products also want."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT vitals_summarize_event_ranges()")
        return cursor.fetchone()[0]


# A health run is tried this many times for one product and as-of day; after that its
# failures stay visible instead of being retried every few minutes.
MAX_ATTEMPTS = 3


def health_recompute_enqueue(
    *, product: Product, as_of: date | None = None, full: bool = False
) -> HealthRun:
    """Queue a run for a worker, or return the queued one that already covers it.

    Two triggers for the same product and day give one job: a queued, not yet started
    run is reused when it is full or a full run was not asked for. The task is sent once
    the row is committed, so the worker always finds it.
    """
    with transaction.atomic(), tenant_scope(product.organization):
        # Serializes enqueues of one product, so two triggers cannot both miss the other's
        # row. NO KEY UPDATE does not block ingestion's foreign-key checks on the product.
        list(
            Product.dangerously_unscoped.select_for_update(no_key=True)
            .filter(pk=product.pk)
            .values_list("pk", flat=True)
        )
        if as_of is None:
            as_of = timezone.now().astimezone(product.organization.tzinfo).date() - timedelta(
                days=1
            )
        queued = (
            HealthRun.dangerously_unscoped.filter(
                product=product, as_of=as_of, status=HealthRun.Status.QUEUED
            )
            .filter(Q(full=True) | Q(full=full))
            .order_by("queued_at")
            .first()
        )
        if queued is not None:
            return queued
        run = HealthRun.dangerously_unscoped.create(
            organization_id=product.organization_id, product=product, as_of=as_of, full=full
        )
        health_run_send_on_commit(run_id=run.pk)
    return run


def health_run_send_on_commit(*, run_id: int) -> None:
    """Hand a run to Celery once the current transaction commits (at once outside one).

    robust: one failed send (or, in eager mode, one failed run) does not stop the others;
    the sweeper re-sends runs left queued.
    """
    from health.tasks import health_run_task  # the tasks module imports this one

    transaction.on_commit(partial(health_run_task.delay, run_id), robust=True)


def health_run_execute(*, run: HealthRun) -> HealthRun:
    """Compute a queued run, the body of the Celery task; the caller enters the tenant scope.

    Holds the product's lock for the whole attempt, so a second delivery of the same run
    waits (HealthRunBusy) instead of computing it twice, and a run found "running" while
    we hold the lock is known to be abandoned by a worker that died.
    """
    with _product_session_lock(product_id=run.product_id):
        run.refresh_from_db()
        if run.status in (HealthRun.Status.DONE, HealthRun.Status.FAILED):
            return run  # another delivery finished it, or the sweeper gave it up
        if run.status == HealthRun.Status.RUNNING:
            health_run_abandon(run=run, reason="the worker running it was lost")
            return run
        return health_compute(product=run.product, as_of=run.as_of, full=run.full, run=run)


def health_run_abandon(*, run: HealthRun, reason: str) -> HealthRun | None:
    """Mark a run that will never finish as failed and queue its next attempt, if any left.

    Its transaction rolled back with the worker, so the previous results are still live and
    the next attempt starts from the same state. Returns the next attempt's run.
    """
    with transaction.atomic():
        run.status, run.finished_at = HealthRun.Status.FAILED, timezone.now()
        run.error = f"Abandoned: {reason}"[:2000]
        run.save(update_fields=["status", "finished_at", "error"])
        if health_attempts_failed(product_id=run.product_id, as_of=run.as_of) >= MAX_ATTEMPTS:
            return None
        return health_recompute_enqueue(product=run.product, as_of=run.as_of, full=run.full)


def health_attempts_failed(*, product_id: int, as_of: date) -> int:
    return HealthRun.dangerously_unscoped.filter(
        product_id=product_id, as_of=as_of, status=HealthRun.Status.FAILED
    ).count()


def health_product_lock_free(*, product_id: int) -> bool:
    """True when no run of the product is computing; then holds its lock until commit.

    Call inside a transaction: while it lasts no run of the product can start.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, product_id])
        return bool(cursor.fetchone()[0])


@contextlib.contextmanager
def _product_session_lock(*, product_id: int) -> Iterator[None]:
    """The product's run lock at session level, across health_compute's transaction.

    health_compute's own transaction-level try-lock succeeds for the session holding it.
    If the worker dies, PostgreSQL drops the session and the lock with it.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, product_id])
        if not cursor.fetchone()[0]:
            raise HealthRunBusy(f"a health run of product {product_id} is in progress")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, product_id])
        except DatabaseError:
            # A broken connection cannot unlock; closing it ends the session and the lock.
            connection.close()
