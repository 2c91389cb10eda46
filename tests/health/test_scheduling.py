"""Nightly health runs: due per organization's local day, queued once, recovered when lost."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from health import services
from health.models import AccountHealth, HealthRun
from health.scheduling import health_runs_due, health_runs_sweep
from health.services import MAX_ATTEMPTS, health_recompute_enqueue
from health.tasks import health_run_task
from tests.health.helpers import AS_OF, command, ingest_activity, org_product
from vitals.tenancy.models import Product


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def runs() -> set[tuple[str, date, str]]:
    return {
        (run.product.organization.slug, run.as_of, run.status)
        for run in HealthRun.dangerously_unscoped.select_related("product__organization")
    }


@pytest.fixture
def three_zones(db) -> dict[str, Product]:
    return {
        "akl": org_product("akl", "Pacific/Auckland"),
        "nyc": org_product("nyc", "America/New_York"),
        "utc": org_product("utc", "UTC"),
    }


@pytest.mark.django_db
def test_it_queues_local_yesterday_only_where_the_local_day_has_closed(three_zones):
    # 12:04 UTC: 08:04 in New York, 00:04 tomorrow in Auckland (NZST, +12).
    queued = health_runs_due(now=at("2026-06-15T12:04"))
    assert {(run.product.organization.slug, run.as_of) for run in queued} == {
        ("nyc", date(2026, 6, 14)),
        ("utc", date(2026, 6, 14)),
    }
    # A minute later Auckland's June 15 has closed: its yesterday is a day later than theirs.
    queued = health_runs_due(now=at("2026-06-15T12:05"))
    assert [(run.product.organization.slug, run.as_of) for run in queued] == [
        ("akl", date(2026, 6, 15))
    ]
    assert runs() == {
        ("nyc", date(2026, 6, 14), "queued"),
        ("utc", date(2026, 6, 14), "queued"),
        ("akl", date(2026, 6, 15), "queued"),
    }


@pytest.mark.django_db
def test_it_queues_nothing_more_when_called_twice(three_zones, django_capture_on_commit_callbacks):
    now = at("2026-06-15T18:00")
    with django_capture_on_commit_callbacks() as sends:
        assert len(health_runs_due(now=now)) == 3
    assert len(sends) == 3
    with django_capture_on_commit_callbacks() as sends:
        assert health_runs_due(now=now) == []
        assert health_runs_due(now=now + timedelta(hours=3)) == []
    assert sends == []
    assert HealthRun.dangerously_unscoped.count() == 3


@pytest.mark.django_db
def test_it_counts_done_and_running_runs_but_retries_failed_ones_a_few_times(three_zones):
    now = at("2026-06-15T18:00")
    nyc, utc, akl = three_zones["nyc"], three_zones["utc"], three_zones["akl"]
    HealthRun.dangerously_unscoped.create(
        organization_id=nyc.organization_id, product=nyc, as_of=AS_OF, status=HealthRun.Status.DONE
    )
    HealthRun.dangerously_unscoped.create(
        organization_id=akl.organization_id, product=akl, as_of=date(2026, 6, 15), status="running"
    )
    for _ in range(MAX_ATTEMPTS - 1):
        HealthRun.dangerously_unscoped.create(
            organization_id=utc.organization_id,
            product=utc,
            as_of=AS_OF,
            status=HealthRun.Status.FAILED,
        )
    # Another day's run does not count for this one.
    HealthRun.dangerously_unscoped.create(
        organization_id=utc.organization_id,
        product=utc,
        as_of=AS_OF - timedelta(days=1),
        status="done",
    )

    assert [(run.product_id, run.as_of) for run in health_runs_due(now=now)] == [(utc.pk, AS_OF)]

    HealthRun.dangerously_unscoped.filter(status="queued").update(status="failed")
    assert health_runs_due(now=now) == [], "after MAX_ATTEMPTS failures the day is left alone"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("zone", "now", "as_of"),
    [
        # New York springs forward on 2026-03-08 (a 23-hour day): 00:05 is 05:05Z before
        # it and 04:05Z after it.
        ("America/New_York", "2026-03-08T05:04", None),
        ("America/New_York", "2026-03-08T05:05", date(2026, 3, 7)),
        ("America/New_York", "2026-03-09T04:04", None),
        ("America/New_York", "2026-03-09T04:05", date(2026, 3, 8)),
        # It falls back on 2026-11-01 (a 25-hour day).
        ("America/New_York", "2026-11-01T04:05", date(2026, 10, 31)),
        ("America/New_York", "2026-11-02T04:05", date(2026, 10, 31)),
        ("America/New_York", "2026-11-02T05:04", None),
        ("America/New_York", "2026-11-02T05:05", date(2026, 11, 1)),
        # Auckland leaves daylight time (+13 -> +12) on 2026-04-05.
        ("Pacific/Auckland", "2026-04-04T11:05", date(2026, 4, 4)),
        ("Pacific/Auckland", "2026-04-05T11:05", date(2026, 4, 4)),
        ("Pacific/Auckland", "2026-04-05T12:05", date(2026, 4, 5)),
    ],
)
def test_it_takes_local_yesterday_across_daylight_saving_changes(zone, now, as_of):
    product = org_product("dst", zone)
    queued = health_runs_due(now=at(now))
    assert [(run.product_id, run.as_of) for run in queued] == (
        [(product.pk, as_of)] if as_of else []
    )


@pytest.mark.django_db
def test_it_coalesces_two_triggers_into_one_queued_run(
    three_zones, django_capture_on_commit_callbacks
):
    product = three_zones["utc"]
    with django_capture_on_commit_callbacks() as sends:
        first = health_recompute_enqueue(product=product, as_of=AS_OF)
        second = health_recompute_enqueue(product=product, as_of=AS_OF)
    assert second.pk == first.pk
    assert len(sends) == 1
    assert HealthRun.dangerously_unscoped.filter(product=product).count() == 1

    # A full rebuild is not covered by a queued incremental run, the other way round it is.
    full = health_recompute_enqueue(product=product, as_of=AS_OF, full=True)
    assert full.pk != first.pk and full.full
    assert health_recompute_enqueue(product=product, as_of=AS_OF, full=True).pk == full.pk
    # Other days and runs already started are separate jobs.
    assert health_recompute_enqueue(product=product, as_of=AS_OF - timedelta(days=1)).pk not in {
        first.pk,
        full.pk,
    }
    HealthRun.dangerously_unscoped.filter(pk=first.pk).update(status="running")
    HealthRun.dangerously_unscoped.filter(pk=full.pk).update(status="running")
    assert health_recompute_enqueue(product=product, as_of=AS_OF).pk not in {first.pk, full.pk}


@pytest.mark.django_db
def test_it_defaults_to_yesterday_in_the_organizations_time_zone(three_zones, monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: at("2026-06-15T13:00"))
    assert health_recompute_enqueue(product=three_zones["akl"]).as_of == date(2026, 6, 15)
    assert health_recompute_enqueue(product=three_zones["nyc"]).as_of == date(2026, 6, 14)


@pytest.mark.django_db
def test_it_computes_a_queued_run_eagerly_to_done(
    three_zones, eager_tasks, django_capture_on_commit_callbacks
):
    product = three_zones["utc"]
    ingest_activity(product)
    with django_capture_on_commit_callbacks(execute=True):
        run = health_recompute_enqueue(product=product, as_of=AS_OF)
    run.refresh_from_db()
    assert (run.status, run.error) == ("done", "")
    assert run.rows == 1
    assert run.started_at is not None and run.finished_at is not None
    health = AccountHealth.dangerously_unscoped.get(product=product, as_of=AS_OF)
    assert health.active_users == 2


@pytest.fixture
def other_session():
    """A second PostgreSQL session, to hold a product's run lock like another worker."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("server_side_binding", None)
    params.pop("prepare_threshold", None)
    with psycopg.connect(**params, autocommit=True) as session:
        yield session


def hold_run_lock(session, product: Product) -> None:
    session.execute("SELECT pg_advisory_lock(%s, %s)", [services._LOCK_NAMESPACE, product.pk])


@pytest.mark.django_db
def test_it_leaves_a_run_queued_while_another_run_of_the_product_holds_the_lock(
    three_zones, eager_tasks, django_capture_on_commit_callbacks, other_session
):
    product = three_zones["utc"]
    hold_run_lock(other_session, product)
    with django_capture_on_commit_callbacks(execute=True):
        run = health_recompute_enqueue(product=product, as_of=AS_OF)
    run.refresh_from_db()
    assert (run.status, run.error, run.started_at) == ("queued", "", None)

    other_session.execute("SELECT pg_advisory_unlock_all()")
    health_run_task.delay(run.pk)
    run.refresh_from_db()
    assert run.status == "done"


@pytest.mark.django_db
def test_it_replaces_a_run_whose_worker_died_when_its_message_comes_back(
    three_zones, eager_tasks, django_capture_on_commit_callbacks
):
    product = three_zones["utc"]
    lost = HealthRun.dangerously_unscoped.create(
        organization_id=product.organization_id,
        product=product,
        as_of=AS_OF,
        status="running",
        started_at=timezone.now() - timedelta(minutes=3),
    )
    # acks_late: the killed worker's message is delivered again.
    with django_capture_on_commit_callbacks(execute=True):
        health_run_task.delay(lost.pk)
    lost.refresh_from_db()
    assert lost.status == "failed"
    assert "worker running it was lost" in lost.error
    assert HealthRun.dangerously_unscoped.get(product=product, status="done").as_of == AS_OF


@pytest.mark.django_db
def test_it_sweeps_a_run_stuck_running_into_failed_and_queues_it_again(
    three_zones, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_TIME_LIMIT = 30 * 60
    product = three_zones["utc"]
    now = timezone.now()
    stuck = HealthRun.dangerously_unscoped.create(
        organization_id=product.organization_id,
        product=product,
        as_of=AS_OF,
        status="running",
        started_at=now - timedelta(minutes=50),
    )
    recent = HealthRun.dangerously_unscoped.create(
        organization_id=product.organization_id,
        product=product,
        as_of=AS_OF + timedelta(1),
        status="running",
        started_at=now - timedelta(minutes=20),
    )
    with django_capture_on_commit_callbacks() as sends:
        swept = health_runs_sweep(now=now)
    stuck.refresh_from_db()
    recent.refresh_from_db()
    assert stuck.status == "failed" and stuck.finished_at is not None
    assert "its worker died" in stuck.error
    assert recent.status == "running", "a run inside the time limit may still finish"
    assert [(run.product_id, run.as_of, run.status) for run in swept] == [
        (product.pk, AS_OF, "queued")
    ]
    assert len(sends) == 1


@pytest.mark.django_db
def test_it_resends_a_run_left_queued_and_only_that_one(
    three_zones, django_capture_on_commit_callbacks
):
    product = three_zones["utc"]
    now = timezone.now()
    old = health_recompute_enqueue(product=product, as_of=AS_OF)
    HealthRun.dangerously_unscoped.filter(pk=old.pk).update(queued_at=now - timedelta(hours=1))
    health_recompute_enqueue(product=product, as_of=AS_OF + timedelta(days=1))
    with django_capture_on_commit_callbacks() as sends:
        swept = health_runs_sweep(now=now)
    assert [run.pk for run in swept] == [old.pk]
    assert len(sends) == 1
    assert HealthRun.dangerously_unscoped.count() == 2


@pytest.mark.django_db
def test_it_does_not_sweep_a_long_run_that_still_holds_the_lock(three_zones, other_session):
    product = three_zones["utc"]
    long_run = HealthRun.dangerously_unscoped.create(
        organization_id=product.organization_id,
        product=product,
        as_of=AS_OF,
        status="running",
        started_at=timezone.now() - timedelta(hours=3),
    )
    hold_run_lock(other_session, product)
    assert health_runs_sweep() == []
    long_run.refresh_from_db()
    assert long_run.status == "running"


@pytest.mark.django_db
def test_it_stops_requeueing_after_max_attempts(three_zones):
    product = three_zones["utc"]
    for _ in range(MAX_ATTEMPTS - 1):
        HealthRun.dangerously_unscoped.create(
            organization_id=product.organization_id, product=product, as_of=AS_OF, status="failed"
        )
    HealthRun.dangerously_unscoped.create(
        organization_id=product.organization_id,
        product=product,
        as_of=AS_OF,
        status="running",
        started_at=timezone.now() - timedelta(hours=3),
    )
    assert health_runs_sweep() == []
    assert set(HealthRun.dangerously_unscoped.values_list("status", flat=True)) == {"failed"}


@pytest.mark.django_db
def test_it_prints_what_the_command_queued(three_zones, monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: at("2026-06-15T12:04"))
    out = command("run_due_health")
    nyc = HealthRun.dangerously_unscoped.get(product=three_zones["nyc"])
    assert f"Queued run {nyc.pk}: nyc/app as of 2026-06-14" in out
    assert "utc/app as of 2026-06-14" in out
    assert "akl" not in out
    assert "2 run(s) queued." in out
    assert "0 run(s) queued." in command("run_due_health")


@pytest.mark.django_db(transaction=True)
def test_it_queues_once_when_two_schedulers_run_at_the_same_time(three_zones, monkeypatch):
    monkeypatch.setattr(services, "health_run_send_on_commit", lambda *, run_id: None)
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def scheduler() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(len(health_runs_due(now=at("2026-06-15T18:00"))))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(results) == [0, 3]
    assert HealthRun.dangerously_unscoped.count() == 3
