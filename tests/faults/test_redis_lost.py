"""Redis down, and Redis wiped (the test's private server, never the shared one).

Down: ingestion never needs Redis and keeps storing; beat cannot send, so nothing is
queued; once Redis is back the same worker reconnects and the next tick queues the nightly
run, which completes once. Wiped: runs recorded as queued in PostgreSQL whose messages
are gone (wiped, or never sent while Redis was down) are sent again by the sweeper and
complete once.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from health.scheduling import QUEUED_STALE_AFTER
from tests.faults.data import (
    Sdk,
    accepted_total,
    health_run_enqueue,
    health_runs,
    import_basic,
    product_id,
    stored_counts,
    write_key_create,
    zone_inside_its_day,
)
from tests.faults.processes import PrivateRedis, Stack, wait_for

pytestmark = pytest.mark.faults

SWEPT = re.compile(r"Task health\.sweep\[[^]]+\] succeeded")
DUE_RAN = re.compile(r"Task health\.schedule_due\[[^]]+\] succeeded")
BEAT_FAILED = re.compile(r"beat: Connection error|Couldn't apply scheduled task|Error 111")


def finished(runs: list[tuple]) -> bool:
    return bool(runs) and all(run[2] in ("done", "failed") for run in runs)


def test_it_keeps_ingesting_while_redis_is_down_and_the_nightly_run_catches_up(
    stack: Stack, redis_server: PrivateRedis
) -> None:
    stack.use_redis(redis_server.url())
    gunicorn, url = stack.gunicorn(wait=False)
    worker = stack.worker(wait=False)
    beat = stack.beat()
    stack.wait_ready(gunicorn, worker)
    wait_for(lambda: DUE_RAN.search(worker.log()), 120, "a first tick", details=beat.log)

    redis_server.stop()
    wait_for(lambda: BEAT_FAILED.search(beat.log()), 120, "beat to miss Redis", details=beat.log)
    # An organization whose nightly run falls due while Redis is away.
    zone, as_of = zone_inside_its_day()
    import_basic(stack, slug="rd", timezone_name=zone, events=False)
    write_key = write_key_create(stack, org="rd")
    with stack.connect() as conn:
        product = product_id(conn, org="rd")
        accepted_before = accepted_total(conn, product)
    sdk = Sdk(write_key, url)
    try:
        sdk.track(300)
        sdk.flush(120)
    finally:
        sdk.close()
    assert sdk.errors == [], "ingestion failed without Redis"
    with stack.connect() as conn:
        assert stored_counts(conn, sdk.message_ids) == {mid: 1 for mid in sdk.message_ids}
        assert accepted_total(conn, product) == accepted_before + 300
        assert health_runs(conn, product) == [], "nothing could be queued"
    assert worker.alive() and beat.alive() and gunicorn.alive()

    redis_server.start()  # empty, as a restarted Redis without persistence is
    with stack.connect() as conn:
        wait_for(
            lambda: finished(health_runs(conn, product)),
            180,
            "the nightly run once Redis is back",
            details=lambda: f"{beat.log()}\n{worker.log()}",
        )
        runs = health_runs(conn, product)
    assert [(run[1], run[2]) for run in runs] == [(as_of, "done")]
    assert worker.alive(), "the worker that lived through the outage ran it"


def test_it_sends_again_the_runs_whose_messages_were_wiped_or_never_sent(
    stack: Stack, redis_server: PrivateRedis
) -> None:
    zone, as_of = zone_inside_its_day()
    stack.use_redis(redis_server.url())
    import_basic(stack, slug="wq", timezone_name=zone, events=False)
    with stack.connect() as conn:
        product = product_id(conn, org="wq")
    out = stack.manage("run_due_health")
    assert "1 run(s) queued." in out
    with stack.connect() as conn:
        [(wiped, _, _, _)] = health_runs(conn, product)
    redis = redis_server.client()
    assert redis.llen("celery") == 1, "the run's message waits in the queue"
    redis.flushdb()
    # A trigger while Redis is down: the run is recorded, its message cannot be sent.
    redis_server.stop()
    unsent = health_run_enqueue(stack, org="wq", as_of="2026-10-31")
    redis_server.start()
    assert redis.llen("celery") == 0

    worker = stack.worker(wait=False)
    stack.beat()
    # The sweeper runs every tick but leaves runs queued this recently: their messages
    # may still be on their way.
    wait_for(lambda: len(SWEPT.findall(worker.log())) >= 2, 120, "two sweeps", details=worker.log)
    with stack.connect() as conn:
        assert [(run[0], run[2]) for run in health_runs(conn, product)] == [
            (wiped, "queued"),
            (unsent, "queued"),
        ]
        # Half an hour on, as far as the sweeper can tell.
        conn.execute(
            "UPDATE health_healthrun SET queued_at = queued_at - %s WHERE product_id = %s",
            [QUEUED_STALE_AFTER + timedelta(minutes=1), product],
        )
        wait_for(
            lambda: finished(health_runs(conn, product)),
            120,
            "the swept runs to finish",
            details=worker.log,
        )
        runs = health_runs(conn, product)
    assert [(run[0], str(run[1]), run[2]) for run in runs] == [
        (wiped, str(as_of), "done"),
        (unsent, "2026-10-31", "done"),
    ]
