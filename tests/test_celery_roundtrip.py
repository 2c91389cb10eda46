"""A task goes through real Redis to a real worker process and its result comes back."""

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
from celery import Celery

from tests.workers import redis_url_for_db, stop_process_group

BASE_DIR = Path(__file__).resolve().parent.parent
# Its own Redis database, so a developer's worker on /0 never takes the test's task.
TEST_REDIS_DB = 15
STARTUP_SECONDS = 60
STOP_SECONDS = 10


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log_path: Path
    redis_url: str
    queue: str

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    redis_url = redis_url_for_db(TEST_REDIS_DB)
    try:
        redis.Redis.from_url(redis_url, socket_timeout=3, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not reachable at {redis_url}: {exc}")

    # A queue of its own, so parallel runs on one Redis cannot answer each other's tasks.
    queue = f"roundtrip-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DJANGO_SETTINGS_MODULE": "vitals.settings",
        "PYTHONUNBUFFERED": "1",
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "vitals", "worker"]
            + ["--concurrency", "1", "-l", "warning", "-Q", queue, "-n", f"{queue}@%h"],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Worker(process=process, log_path=log_path, redis_url=redis_url, queue=queue)
    finally:
        stop_process_group(process, grace=STOP_SECONDS)


def test_it_answers_ping_through_redis_from_a_real_worker(worker: Worker) -> None:
    client = Celery("roundtrip-client", broker=worker.redis_url, backend=worker.redis_url)
    try:
        result = client.send_task("vitals.ping", queue=worker.queue)
        # Poll rather than block, so a worker that dies at start fails the test at once.
        deadline = time.monotonic() + STARTUP_SECONDS
        while not result.ready():
            assert worker.process.poll() is None, f"worker exited early:\n{worker.log()}"
            assert time.monotonic() < deadline, (
                f"no result within {STARTUP_SECONDS}s; worker log:\n{worker.log()}"
            )
            time.sleep(0.2)
        assert result.get(timeout=5) == "pong"
        result.forget()
    finally:
        client.close()
