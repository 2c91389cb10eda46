"""A run killed mid-transaction (SIGKILL) leaves the previous results live, and the rerun
equals a clean run. The test blocks the run on a lock it holds, so the kill lands while
the run has written rows it has not committed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.health.helpers import (
    basic_computed,
    compute,
    health_snapshot,
    ingest_late_group,
    subprocess_database_url,
)

ROOT = Path(__file__).resolve().parents[2]
AS_OF = "2026-10-31"


def wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def backends_of(conn: psycopg.Connection, application: str) -> list[tuple]:
    return conn.execute(
        "SELECT pid, wait_event_type FROM pg_stat_activity WHERE application_name = %s",
        [application],
    ).fetchall()


@pytest.mark.django_db(transaction=True)
def test_it_keeps_the_previous_results_live_when_a_run_is_killed(tmp_path):
    product = basic_computed(AS_OF)
    before = health_snapshot(product.pk, AS_OF)
    ingest_late_group(tmp_path, message_id="late-group-kill")

    url = subprocess_database_url()
    application = "vitals-killed-run"
    env = {**os.environ, "DATABASE_URL": url, "PGAPPNAME": application, "DB_CONN_MAX_AGE": "0"}
    blocker = psycopg.connect(url, autocommit=False)
    watcher = psycopg.connect(url, autocommit=True)
    try:
        # The run writes account rows, then waits here for the portfolio table.
        blocker.execute("LOCK TABLE health_portfoliohealth IN ACCESS EXCLUSIVE MODE")
        run = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "compute_health",
                "--org",
                "basic",
                "--product",
                "app",
                "--as-of",
                AS_OF,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for(
                lambda: any(w == "Lock" for _, w in backends_of(watcher, application)),
                60,
                "the run to block on the lock",
            )
            os.kill(run.pid, signal.SIGKILL)
            run.wait(timeout=10)
        finally:
            if run.poll() is None:
                run.kill()
        blocker.rollback()
        # The orphaned backend aborts when it finds its client gone; don't wait forever.
        try:
            wait_for(lambda: not backends_of(watcher, application), 15, "backend to end")
        except AssertionError:
            for pid, _ in backends_of(watcher, application):
                watcher.execute("SELECT pg_terminate_backend(%s)", [pid])
            wait_for(lambda: not backends_of(watcher, application), 15, "backend to end")
    finally:
        blocker.close()
        watcher.close()

    assert run.returncode == -signal.SIGKILL
    assert health_snapshot(product.pk, AS_OF) == before, "previous results must stay live"

    compute("basic", "app", AS_OF)
    rerun = health_snapshot(product.pk, AS_OF)
    compute("basic", "app", AS_OF, full=True)
    assert rerun == health_snapshot(product.pk, AS_OF)
    assert rerun != before
