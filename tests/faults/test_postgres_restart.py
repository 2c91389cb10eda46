"""PostgreSQL restarted under load (the test's private cluster, never the shared server).

The tracking API answers 503 with Retry-After while it is down and the SDK's retries then
complete, every message stored once; a health run that meets it down is retried with
bounded back-off and completes once it is back.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest

from health.tasks import DB_MAX_RETRIES
from ingestion.api import DB_RETRY_AFTER_SECONDS
from tests.faults.data import (
    Sdk,
    accepted_total,
    health_run_enqueue,
    health_runs,
    import_basic,
    product_id,
    stored_counts,
    write_key_create,
)
from tests.faults.processes import PrivatePostgres, PrivateRedis, Stack, wait_for

pytestmark = pytest.mark.faults

UNAVAILABLE = re.compile(r'access 503 "POST /v1/batch ')


def post_batch(url: str, write_key: str, messages: list[dict]) -> tuple[int, dict, dict]:
    """One plain POST /v1/batch: (status, headers, JSON body), errors included."""
    token = base64.b64encode(f"{write_key}:".encode()).decode()
    request = urllib.request.Request(
        f"{url}/v1/batch",
        data=json.dumps({"batch": messages}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_it_answers_503_with_retry_after_while_postgres_restarts_and_retries_complete(
    stack: Stack, postgres: PrivatePostgres
) -> None:
    import_basic(stack, slug="pgr", events=False)
    write_key = write_key_create(stack, org="pgr")
    with stack.connect() as conn:
        product = product_id(conn, org="pgr")
    # The production app, keeping its connections between requests (DB_CONN_MAX_AGE).
    gunicorn, url = stack.gunicorn()
    sdk = Sdk(write_key, url, upload_size=20)
    streaming = threading.Event()
    streaming.set()

    def stream() -> None:
        while streaming.is_set():
            sdk.track(10)
            time.sleep(0.1)

    producer = threading.Thread(target=stream, daemon=True)
    producer.start()
    message = {
        "type": "track",
        "userId": "u1",
        "event": "Report Exported",
        "messageId": f"plain-{uuid.uuid4().hex}",
        "timestamp": "2026-10-20T12:00:00Z",
    }
    try:
        with stack.connect() as conn:
            wait_for(lambda: accepted_total(conn, product) >= 100, 120, "ingestion under way")
        postgres.stop("fast")
        try:
            status, headers, body = post_batch(url, write_key, [message])
            assert status == 503, body
            assert headers["Retry-After"] == str(DB_RETRY_AFTER_SECONDS)
            assert body["code"] == "unavailable"
            # The SDK meets 503s too, and waits as Retry-After tells it.
            wait_for(
                lambda: len(UNAVAILABLE.findall(gunicorn.log())) >= 2,
                120,
                "the SDK to be answered 503",
                details=gunicorn.log,
            )
        finally:
            postgres.start()
        streaming.clear()
        producer.join(timeout=30)
        sdk.flush(240)

        status, _, body = post_batch(url, write_key, [message])
        assert (status, body["accepted"]) == (200, 1), "the plain client's retry is stored"
        assert sdk.errors == [], "the SDK gave up on a batch"
        with stack.connect() as conn:
            expected = [*sdk.message_ids, message["messageId"]]
            assert stored_counts(conn, expected) == {message_id: 1 for message_id in expected}
            assert accepted_total(conn, product) == len(expected)
    finally:
        streaming.clear()
        sdk.close()


AS_OF = "2026-10-31"


def test_it_retries_a_health_run_while_postgres_is_down_and_completes_it(
    stack: Stack, postgres: PrivatePostgres, redis_server: PrivateRedis
) -> None:
    stack.use_redis(redis_server.url())
    import_basic(stack, slug="pgw")
    with stack.connect() as conn:
        product = product_id(conn, org="pgw")
    # No worker yet: the message waits in Redis for one that finds the database gone.
    run_id = health_run_enqueue(stack, org="pgw", as_of=AS_OF)
    postgres.stop("fast")
    try:
        worker = stack.worker()
        wait_for(
            lambda: worker.log().count("Retry in") >= 2,
            120,
            "the run to be retried twice",
            details=worker.log,
        )
    finally:
        postgres.start()
    with stack.connect() as conn:
        wait_for(
            lambda: health_runs(conn, product, since=run_id)[-1][2] in ("done", "failed"),
            180,
            "the run to end",
            details=worker.log,
        )
        runs = health_runs(conn, product, since=run_id)
    assert [(run[0], run[2]) for run in runs] == [(run_id, "done")]
    retries = worker.log().count("Retry in")
    assert 2 <= retries <= DB_MAX_RETRIES
    assert "OperationalError" in worker.log()
