"""Celery doors to the health services: each task loads by id and calls one service.

The schedules that send the periodic ones live in vitals/schedules.py.
"""

from __future__ import annotations

import logging

from celery import Task, shared_task

from health.models import HealthRun
from health.scheduling import health_runs_due, health_runs_sweep
from health.services import HealthRunBusy, health_run_execute
from vitals.tenancy.scope import tenant_scope

logger = logging.getLogger(__name__)

# Waits while another run of the product holds its lock: 1, 2, 4, 8 then 10 minutes, about
# 25 minutes in all. After that the run stays queued and the sweeper sends it again.
BUSY_MAX_RETRIES = 5
BUSY_BACKOFF_SECONDS = 60
BUSY_BACKOFF_MAX_SECONDS = 600


@shared_task(name="health.run", bind=True, ignore_result=True, max_retries=BUSY_MAX_RETRIES)
def health_run_task(self: Task, run_id: int) -> None:
    """Compute one queued HealthRun. Failures are recorded on the run and not retried."""
    run = (
        # The run's id is all the task has: its organization comes from the row.
        HealthRun.dangerously_unscoped.rls_bypass("health run by id")
        .select_related("product__organization")
        .filter(pk=run_id)
        .first()
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
