"""A Celery worker's pool process SIGKILLed mid-compute: the previous results stay live, the
message comes back (late acks, reject on worker lost), the run is replaced by a new attempt
and its results equal a clean full rebuild."""

from __future__ import annotations

import os
import signal

import pytest

from tests.faults.data import (
    backends,
    health_run_enqueue,
    health_runs,
    health_snapshot,
    import_basic,
    ingest_late_group,
    product_id,
)
from tests.faults.processes import PrivateRedis, Stack, kill, wait_for

pytestmark = pytest.mark.faults

AS_OF = "2026-10-31"
WORKER_APP = "vitals-worker"


def test_it_keeps_the_previous_results_live_and_reruns_identically(
    stack: Stack, redis_server: PrivateRedis
) -> None:
    stack.use_redis(redis_server.url())
    worker = stack.worker(wait=False)  # idle until the run is queued
    import_basic(stack, slug="ck")
    stack.manage("compute_health", "--org", "ck", "--product", "app", "--as-of", AS_OF)
    with stack.connect() as conn:
        product = product_id(conn, org="ck")
        before = health_snapshot(conn, product, AS_OF)
    ingest_late_group(stack, org="ck", message_id="late-group-worker-kill")
    stack.wait_ready(worker)

    with stack.connect(autocommit=False) as blocker, stack.connect() as watcher:
        # The run writes its account rows, then waits here for the portfolio table.
        blocker.execute("LOCK TABLE health_portfoliohealth IN ACCESS EXCLUSIVE MODE")
        run_id = health_run_enqueue(stack, org="ck", as_of=AS_OF)
        wait_for(
            lambda: any(wait == "Lock" for _, wait in backends(watcher, WORKER_APP)),
            120,
            "the run to wait on the lock",
            details=worker.log,
        )
        [child] = worker.children()
        # Frozen first, so that its session is surely gone (and the product's run lock
        # with it) before the message comes back; PostgreSQL alone would notice the dead
        # client only when it next wrote to it.
        sessions = [pid for pid, _ in backends(watcher, WORKER_APP)]
        os.kill(child, signal.SIGSTOP)
        for pid in sessions:
            watcher.execute("SELECT pg_terminate_backend(%s)", [pid])
        wait_for(lambda: not backends(watcher, WORKER_APP), 60, "the run's session to end")
        # The killed transaction rolled back: what is live is what was live before.
        assert health_snapshot(blocker, product, AS_OF) == before
        kill(child)  # a stopped process dies of SIGKILL all the same

        # The pool restarts, the message comes back, the lost run gives way to a new one.
        wait_for(
            lambda: len(health_runs(watcher, product, since=run_id)) == 2,
            120,
            "the next attempt to be queued",
            details=worker.log,
        )
        blocker.rollback()
        wait_for(
            lambda: health_runs(watcher, product, since=run_id)[-1][2] in ("done", "failed"),
            180,
            "the next attempt to finish",
            details=worker.log,
        )

    with stack.connect() as conn:
        runs = health_runs(conn, product, since=run_id)
        rerun = health_snapshot(conn, product, AS_OF)
    assert [(run[0], run[2]) for run in runs] == [(run_id, "failed"), (runs[1][0], "done")]
    assert "worker running it was lost" in runs[0][3]
    assert "WorkerLostError" in worker.log() or "SIGKILL" in worker.log()

    stack.manage("compute_health", "--org", "ck", "--product", "app", "--as-of", AS_OF, "--full")
    with stack.connect() as conn:
        assert rerun == health_snapshot(conn, product, AS_OF), "the rerun equals a clean run"
    assert rerun != before, "the late group changed the results"
