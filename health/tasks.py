"""Celery doors to the health services: each task loads by id and calls one service.

The schedules that send the periodic ones live in vitals/schedules.py.
"""

from __future__ import annotations

import logging

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

from health.models import HealthRun
from health.scheduling import health_runs_due, health_runs_sweep
from health.services import HealthRunBusy, health_run_execute
from vitals.tenancy.definer import definer_rows, organization_from
from vitals.tenancy.scope import tenant_scope

logger = logging.getLogger(__name__)

# Waits while another run of the product holds its lock: 1, 2, 4, 8 then 10 minutes, about
# 25 minutes in all. After that the run stays queued and the sweeper sends it again.
BUSY_MAX_RETRIES = 5
BUSY_BACKOFF_SECONDS = 60
BUSY_BACKOFF_MAX_SECONDS = 600
# The database unreachable (restarting, failing over): retried after a random wait of up to
# 2, 4, 8, ... 256 seconds, about eight minutes in all. Busy retries count towards the same
# bound. Past it the run stays queued (or running) in PostgreSQL and the sweeper sends it again.
DB_MAX_RETRIES = 8
DB_BACKOFF_SECONDS = 2
DB_BACKOFF_MAX_SECONDS = 300


@shared_task(
    name="health.run",
    bind=True,
    ignore_result=True,
    max_retries=DB_MAX_RETRIES,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=DB_BACKOFF_SECONDS,
    retry_backoff_max=DB_BACKOFF_MAX_SECONDS,
    retry_jitter=True,
)
def health_run_task(self: Task, run_id: int) -> None:
    """Compute one queued HealthRun. Failures are recorded on the run and not retried,
    except the database being unreachable, which is retried a bounded number of times."""
    # The run's id is all the task has: its organization comes from the row, through a
    # SECURITY DEFINER function; the run itself is read in that organization's scope.
    rows = definer_rows("vitals_health_run_organization", run_id)
    run = None
    if rows:
        with tenant_scope(organization_from(*rows[0])):
            run = (
                HealthRun.objects.select_related("product__organization").filter(pk=run_id).first()
            )
    if run is None:
        logger.warning("health run %s no longer exists; nothing to do", run_id)
        return
    product = run.product
    try:
        with tenant_scope(product.organization, product):
            health_run_execute(run=run)
    except HealthRunBusy as exc:
        if self.request.retries >= BUSY_MAX_RETRIES:
            logger.warning(
                "health run %s still busy after %s retries; left queued",
                run_id,
                self.request.retries,
            )
            return
        countdown = min(BUSY_BACKOFF_SECONDS * 2**self.request.retries, BUSY_BACKOFF_MAX_SECONDS)
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(name="health.schedule_due", ignore_result=True)
def health_schedule_due_task() -> int:
    """Queue the nightly run of every product whose organization's day has turned."""
    return len(health_runs_due())


@shared_task(name="health.sweep", ignore_result=True)
def health_sweep_task() -> int:
    """Re-send runs the queue lost and replace runs whose worker died."""
    return len(health_runs_sweep())
