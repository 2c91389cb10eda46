"""Two beat processes, two workers, two triggers at once: each product's nightly run is
queued and computed once."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.faults.data import (
    health_run_enqueue_command,
    health_runs,
    import_basic,
    product_id,
    zone_inside_its_day,
)
from tests.faults.processes import BASE_DIR, PYTHON, PrivateRedis, Stack, wait_for

pytestmark = pytest.mark.faults

DUE_SENT = "Sending due task health-runs-due"
DUE_RAN = re.compile(r"Task health\.schedule_due\[[^]]+\] succeeded")


def test_it_runs_each_nightly_job_once_with_two_beats_and_two_workers(
    stack: Stack, redis_server: PrivateRedis
) -> None:
    stack.use_redis(redis_server.url())
    first_zone, first_day = zone_inside_its_day()
    second_zone, second_day = zone_inside_its_day(exclude=(first_zone,))
    import_basic(stack, slug="one", timezone_name=first_zone, events=False)
    import_basic(stack, slug="two", timezone_name=second_zone, events=False)
    with stack.connect() as conn:
        products = {product_id(conn, org="one"): first_day, product_id(conn, org="two"): second_day}

    workers = [stack.worker("worker-1", wait=False), stack.worker("worker-2", wait=False)]
    beats = [stack.beat("beat-1"), stack.beat("beat-2")]
    stack.wait_ready(*workers)

    def logs() -> str:
        return stack.logs()

    # Both beats send every tick, and both workers run the checks.
    wait_for(
        lambda: all(beat.log().count(DUE_SENT) >= 4 for beat in beats),
        120,
        "four ticks of each beat",
        details=logs,
    )
    wait_for(
        lambda: sum(len(DUE_RAN.findall(worker.log())) for worker in workers) >= 8,
        120,
        "eight scheduling checks run",
        details=logs,
    )
    with stack.connect() as conn:
        for product in products:
            wait_for(
                lambda product=product: (
                    health_runs(conn, product)
                    and health_runs(conn, product)[-1][2] in ("done", "failed")
                ),
                120,
                f"the run of product {product}",
                details=logs,
            )
        runs = {product: health_runs(conn, product) for product in products}
    assert {product: [(r[1], r[2]) for r in rows] for product, rows in runs.items()} == {
        product: [(as_of, "done")] for product, as_of in products.items()
    }


def test_it_gives_two_simultaneous_triggers_one_run(
    stack: Stack, redis_server: PrivateRedis
) -> None:
    # No worker: the run stays queued, and a second trigger must find it.
    stack.use_redis(redis_server.url())
    import_basic(stack, slug="trig", events=False)
    code = health_run_enqueue_command(org="trig", as_of="2026-10-31")
    triggers = [
        subprocess.Popen(
            [PYTHON, "manage.py", "shell", "-c", code],
            cwd=BASE_DIR,
            env=stack.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [trigger.communicate(timeout=120) for trigger in triggers]
    assert [trigger.returncode for trigger in triggers] == [0, 0], outputs
    ids = {out.strip().splitlines()[-1] for out, _ in outputs}
    with stack.connect() as conn:
        runs = health_runs(conn, product_id(conn, org="trig"))
    assert len(ids) == 1 and [(str(run[0]), run[2]) for run in runs] == [(ids.pop(), "queued")]
    assert redis_server.client().llen("celery") == 1, "one message for the one run"
