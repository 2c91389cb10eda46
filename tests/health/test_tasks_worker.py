"""A queued health run goes through real Redis to a real worker and ends done, with rows."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from health.models import AccountHealth, HealthRun
from health.services import health_recompute_enqueue
from tests.health.helpers import AS_OF, ingest_activity, org_product, subprocess_database_url
from tests.workers import redis_url_for_db, stop_process_group
from vitals.celery import app

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Redis database of this test only: flushed before each run, so stale messages cannot leak.
TEST_REDIS_DB = 14
RUN_SECONDS = 90
STOP_SECONDS = 10


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _drop_broker_pools() -> None:
    """Forget connections made for the broker configured before (the in-memory one)."""
    app.close()
    # close() keeps the producer pool when no connection pool was made, as after eager tests.
    app.amqp._producer_pool = None


@pytest.fixture
def worker(transactional_db, tmp_path: Path) -> Iterator[Worker]:
    """A celery worker on the test database; this process sends its tasks through Redis."""
    redis_url = redis_url_for_db(TEST_REDIS_DB)
    try:
        redis.Redis.from_url(redis_url, socket_timeout=3, socket_connect_timeout=3).flushdb()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not reachable at {redis_url}: {exc}")
    # Celery copied Django's settings when it first read them: change its own conf.
    changes = {"broker_url": redis_url, "task_always_eager": False}
    previous = {key: app.conf.get(key) for key in changes}
    app.conf.update(changes)
    _drop_broker_pools()

    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DATABASE_URL": subprocess_database_url(),
        "DB_CONN_MAX_AGE": "0",
        "DJANGO_SETTINGS_MODULE": "vitals.settings",
        "PYTHONUNBUFFERED": "1",
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "vitals", "worker", "--concurrency", "1"]
            + ["-l", "info", "-n", f"health-{uuid.uuid4().hex[:8]}@%h"]
            + ["--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Worker(process=process, log_path=log_path)
    finally:
        stop_process_group(process, grace=STOP_SECONDS)
        app.conf.update(previous)
        _drop_broker_pools()


def test_it_computes_a_queued_run_in_a_real_worker(worker: Worker) -> None:
    product = org_product("acme", "UTC")
    ingest_activity(product)

    run = health_recompute_enqueue(product=product, as_of=AS_OF)

    deadline = time.monotonic() + RUN_SECONDS
    while True:
        run.refresh_from_db()
        if run.status in (HealthRun.Status.DONE, HealthRun.Status.FAILED):
            break
        assert worker.process.poll() is None, f"worker exited early:\n{worker.log()}"
        assert time.monotonic() < deadline, (
            f"run still {run.status} after {RUN_SECONDS}s; worker log:\n{worker.log()}"
        )
        time.sleep(0.2)
    assert (run.status, run.error) == ("done", ""), worker.log()
    assert run.rows == 1
    health = AccountHealth.dangerously_unscoped.get(product=product, as_of=AS_OF)
    assert health.active_users == 2
    assert "Task health.run[" in worker.log()
