"""When each product's nightly health run is due, and recovering runs that got lost.

Both are cross-tenant jobs (beat calls them for every organization): they find the
products and runs of every organization through SECURITY DEFINER functions that return ids
only (migration tenancy/0004), then read and write each organization's rows in its tenant
scope, and hand each run to the queue by id; the task enters the run's tenant scope.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from health.models import HealthRun
from health.services import (
    MAX_ATTEMPTS,
    health_product_lock_free,
    health_recompute_enqueue,
    health_run_abandon,
    health_run_send_on_commit,
)
from vitals.tenancy.definer import definer_rows
from vitals.tenancy.models import Organization, Product
from vitals.tenancy.scope import tenant_scope

# A few minutes' grace after local midnight for the day's last events to arrive.
DAY_CLOSES_AT = time(0, 5)
# A run queued this long ago that no worker started was lost with the queue (or its busy
# retries ran out): send it again. Longer than the busy back-off in health/tasks.py.
QUEUED_STALE_AFTER = timedelta(minutes=30)
# Past the task's hard time limit the worker has killed it; this much more for clock skew.
RUNNING_GRACE = timedelta(minutes=5)

# Advisory lock keys (namespace, key): one scheduler and one sweeper at a time.
_LOCK_NAMESPACE = 7_310_003
_DUE_LOCK = 1
_SWEEP_LOCK = 2


def health_as_of_due(*, timezone_name: str, now: datetime) -> date | None:
    """The as-of day whose run is due at `now` in that time zone: local yesterday once the
    local clock reads 00:05, None before (SPEC section 4)."""
    local = now.astimezone(ZoneInfo(timezone_name))
    if local.time() < DAY_CLOSES_AT:
        return None
    return local.date() - timedelta(days=1)


@transaction.atomic
def health_runs_due(*, now: datetime | None = None) -> list[HealthRun]:
    """Queue the run of local yesterday for every product that has none yet.

    A queued, running or done run counts as having one; failed runs are retried until
    MAX_ATTEMPTS have failed. Idempotent, and two beat processes calling it at once queue
    each run once: the second waits on the lock, then sees the first one's rows.
    """
    now = now or timezone.now()
    _lock(_DUE_LOCK)
    products = definer_rows("vitals_health_schedule_products")
    organizations = Organization.objects.in_bulk({org_id for _, org_id in products})
    due: dict[int, tuple[int, date]] = {}  # product id -> (organization id, as-of day)
    for product_id, organization_id in products:
        timezone_name = organizations[organization_id].timezone
        as_of = health_as_of_due(timezone_name=timezone_name, now=now)
        if as_of is not None:
            due[product_id] = (organization_id, as_of)
    if not due:
        return []

    has_run: set[int] = set()
    failed: Counter[int] = Counter()
    product_ids = list(due)
    statuses = definer_rows(
        "vitals_health_run_statuses", product_ids, [due[pk][1] for pk in product_ids]
    )
    for product_id, _as_of, status in statuses:
        if status == HealthRun.Status.FAILED:
            failed[product_id] += 1
        else:
            has_run.add(product_id)
    wanted: dict[int, list[int]] = {}  # organization id -> its products to queue
    for product_id, (organization_id, _as_of) in due.items():
        if product_id not in has_run and failed[product_id] < MAX_ATTEMPTS:
            wanted.setdefault(organization_id, []).append(product_id)
    queued = []
    for organization_id, ids in wanted.items():
        organization = organizations[organization_id]
        with tenant_scope(organization):
            for product in Product.objects.filter(pk__in=ids).order_by("pk"):
                product.organization = organization
                queued.append(health_recompute_enqueue(product=product, as_of=due[product.pk][1]))
    return queued


@transaction.atomic
def health_runs_sweep(*, now: datetime | None = None) -> list[HealthRun]:
    """Recover runs a worker or the queue lost; returns the runs (re)sent to the queue.

    - "running" for longer than the task's hard time limit, with nobody holding the
      product's lock: its worker died. It is marked failed and its next attempt queued.
    - "queued" for longer than QUEUED_STALE_AFTER: its message was lost (a wiped Redis,
      busy retries that ran out). It is sent again; a duplicate delivery finds it done.
    """
    now = now or timezone.now()
    _lock(_SWEEP_LOCK)
    time_limit = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    # Both kinds are read before replacing dead runs: their next attempts were just sent.
    lost = definer_rows(
        "vitals_health_runs_lost", now - QUEUED_STALE_AFTER, now - time_limit - RUNNING_GRACE
    )
    if not lost:
        return []
    organizations = Organization.objects.in_bulk({org_id for _, org_id, _ in lost})
    stale: dict[int, list[int]] = {}  # organization id -> its lost runs
    for run_id, organization_id, _status in lost:
        stale.setdefault(organization_id, []).append(run_id)
    stale_queued: list[HealthRun] = []
    stale_running: list[HealthRun] = []
    for organization_id, run_ids in stale.items():
        with tenant_scope(organizations[organization_id]):
            for run in HealthRun.objects.select_related("product__organization").filter(
                pk__in=run_ids
            ):
                if run.status == HealthRun.Status.QUEUED:
                    stale_queued.append(run)
                elif run.status == HealthRun.Status.RUNNING:
                    stale_running.append(run)
    sent: dict[int, HealthRun] = {}
    for run in sorted(stale_running, key=lambda run: run.pk):
        # A compute_health command has no time limit: a held lock means it is still going.
        if not health_product_lock_free(product_id=run.product_id):
            continue
        reason = f"still running past the {time_limit} time limit; its worker died"
        with tenant_scope(run.product.organization):
            next_run = health_run_abandon(run=run, reason=reason)
        if next_run is not None:
            sent[next_run.pk] = next_run
    for run in sorted(stale_queued, key=lambda run: run.pk):
        health_run_send_on_commit(run_id=run.pk)
        sent[run.pk] = run
    return list(sent.values())


def _lock(key: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, key])
