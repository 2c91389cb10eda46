"""Celery is configured so that no task is lost or run twice by a worker or broker fault;
tests/faults proves each fault with real processes, this pins the settings they rely on."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import InterfaceError, OperationalError

from health.scheduling import QUEUED_STALE_AFTER
from health.tasks import (
    DB_BACKOFF_MAX_SECONDS,
    DB_BACKOFF_SECONDS,
    DB_MAX_RETRIES,
    health_run_task,
)
from vitals.celery import app


def test_it_acknowledges_a_task_only_once_it_has_run():
    # A worker that dies mid-task leaves its message to be delivered again.
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_TASK_REJECT_ON_WORKER_LOST is True
    # A worker holds one message at a time: a dead worker strands no others.
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1


def test_it_ends_every_task_well_inside_the_brokers_visibility_timeout():
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert 0 < settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT
    # Else Redis hands a long task to a second worker while the first still runs it.
    assert settings.CELERY_TASK_TIME_LIMIT < visibility
    assert app.conf.broker_transport_options["visibility_timeout"] == visibility


def test_it_retries_a_health_run_a_bounded_number_of_times_while_the_database_is_away():
    assert set(health_run_task.autoretry_for) >= {OperationalError, InterfaceError}
    assert health_run_task.max_retries == DB_MAX_RETRIES
    assert health_run_task.retry_backoff == DB_BACKOFF_SECONDS
    assert health_run_task.retry_jitter is True
    longest = sum(
        min(DB_BACKOFF_SECONDS * 2**attempt, DB_BACKOFF_MAX_SECONDS)
        for attempt in range(DB_MAX_RETRIES)
    )
    # The retries are over before the sweeper would send the run again.
    assert timedelta(seconds=longest) < QUEUED_STALE_AFTER


def test_it_sweeps_lost_runs_on_a_schedule():
    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {"health.schedule_due", "health.sweep"} <= tasks


def test_it_refuses_a_time_limit_too_short_to_leave_room_for_the_soft_one():
    env = {
        **os.environ,
        "CELERY_TASK_TIME_LIMIT": "30",
        "DJANGO_SETTINGS_MODULE": "vitals.settings",
    }
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "CELERY_TASK_TIME_LIMIT must be at least 120" in done.stderr
