"""A gunicorn worker SIGKILLed mid-batch while Segment's SDK retries: every message is
stored once and counted once.

The kill lands inside the batch's transaction (the batch waits on a lock the test holds),
after its commit but before the response (the worker stalls there, so the SDK retries a
batch that was stored), and at random moments while batches stream through two workers.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.faults.data import (
    Sdk,
    accepted_total,
    import_basic,
    product_id,
    stored_counts,
    write_key_create,
)
from tests.faults.processes import PrivatePostgres, Service, Stack, kill, wait_for

pytestmark = pytest.mark.faults

RETRIED_OK = re.compile(r'access 200 "POST /v1/batch [^"]*" pid=<\d+> retry=([1-9]\d*)')


@dataclass
class Server:
    stack: Stack
    gunicorn: Service
    url: str
    write_key: str
    product: int


@dataclass
class Web:
    """The module's server as one test sees it: its own SDK client, the log and the
    counter from where the test began."""

    stack: Stack
    gunicorn: Service
    url: str
    product: int
    sdk: Sdk
    log_start: int
    accepted_start: int

    def log(self) -> str:
        return self.gunicorn.log()[self.log_start :]


@pytest.fixture(scope="module")
def server(postgres: PrivatePostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One gunicorn for the module's tests; each sends messages of its own."""
    stack = Stack(tmp_path_factory.mktemp("web"), database_url=postgres.database_from())
    try:
        import_basic(stack, slug="kill", events=False)
        write_key = write_key_create(stack, org="kill")
        with stack.connect() as conn:
            product = product_id(conn, org="kill")
        gunicorn, url = stack.gunicorn(app="tests.faults.wsgi_probe:application", workers=2)
        yield Server(stack, gunicorn, url, write_key, product)
    finally:
        stack.stop_all()


@pytest.fixture
def web(request: pytest.FixtureRequest, server: Server) -> Iterator[Web]:
    wait_for(lambda: server.gunicorn.ready and server.gunicorn.ready(), 120, "two workers")
    with server.stack.connect() as conn:
        accepted = accepted_total(conn, server.product)
    # Batches of up to 200: streaming back to back, a worker is inside one most of the time.
    sdk = Sdk(server.write_key, server.url, upload_size=200)
    try:
        yield Web(
            stack=server.stack,
            gunicorn=server.gunicorn,
            url=server.url,
            product=server.product,
            sdk=sdk,
            log_start=len(server.gunicorn.log()),
            accepted_start=accepted,
        )
    finally:
        sdk.close()
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            print(server.stack.logs())


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def batch_waiting_on_lock(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE application_name = 'vitals-web' AND wait_event_type = 'Lock'"
    ).fetchone()
    return bool(row and row[0])


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A killed child stays a zombie until gunicorn reaps it.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


def assert_stored_once(web: Web) -> None:
    assert web.sdk.errors == [], "the SDK gave up on a batch"
    with web.stack.connect() as conn:
        counts = stored_counts(conn, web.sdk.message_ids)
        assert counts == {message_id: 1 for message_id in web.sdk.message_ids}
        accepted = accepted_total(conn, web.product) - web.accepted_start
    assert accepted == len(web.sdk.message_ids), "each message counted once"


def test_it_stores_a_batch_once_when_its_worker_is_killed_inside_the_transaction(web: Web) -> None:
    with web.stack.connect(autocommit=False) as blocker, web.stack.connect() as watcher:
        # The batch's transaction stages its rows, then waits here to record them as seen.
        blocker.execute("LOCK TABLE ingestion_seenmessage IN ACCESS EXCLUSIVE MODE")
        (web.stack.tmp / "note-pid").touch()
        web.sdk.track(40)
        pid = wait_for(lambda: read_pid(web.stack.tmp / "handling.pid"), 60, "a worker to take it")
        wait_for(lambda: batch_waiting_on_lock(watcher), 60, "the batch to wait on the lock")
        kill(pid)
        blocker.rollback()
    web.sdk.flush(180)

    assert_stored_once(web)
    assert gone(pid)
    assert RETRIED_OK.search(web.log()), "the SDK's retry was answered 200"


def test_it_stores_a_batch_once_when_its_worker_is_killed_after_the_commit(web: Web) -> None:
    (web.stack.tmp / "stall-after-response").touch()
    web.sdk.track(40)
    pid = wait_for(lambda: read_pid(web.stack.tmp / "stalled.pid"), 60, "a worker to stall")
    with web.stack.connect() as conn:
        stored = stored_counts(conn, web.sdk.message_ids)
    assert stored == {message_id: 1 for message_id in web.sdk.message_ids}, (
        "the batch is committed before its worker dies"
    )
    kill(pid)
    web.sdk.flush(180)

    # The SDK never saw an answer, so it sent the batch again: all duplicates now.
    assert_stored_once(web)
    assert RETRIED_OK.search(web.log()), "the SDK's retry was answered 200"


MIN_KILLS = 6
MAX_KILLS = 40
# Batches cut off and sent again (the SDK numbers its attempts in X-Retry-Count).
MIN_CUT_OFF = 3
MIN_MESSAGES = 2000


def workers_inside_a_batch(conn: psycopg.Connection, workers: list[int]) -> list[int]:
    """The workers whose database session is busy right now: those inside a request.

    pg_stat_activity names the session's client port; /proc says which worker's socket it
    is."""
    ports = {
        port
        for (port,) in conn.execute(
            "SELECT client_port FROM pg_stat_activity WHERE application_name = 'vitals-web'"
            " AND state IN ('active', 'idle in transaction')"
        ).fetchall()
    }
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) in ports:
                inodes.add(f"socket:[{fields[9]}]")
    busy = []
    for pid in workers:
        try:
            links = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
        except OSError:
            continue
        if links & inodes:
            busy.append(pid)
    return busy


def test_it_stores_every_message_once_while_workers_are_killed_at_random(web: Web) -> None:
    seed = random.randrange(1_000_000)
    chance = random.Random(seed)
    killed: list[int] = []
    sending = threading.Event()
    sending.set()

    def cut_off() -> int:
        return sum(int(attempts) for attempts in RETRIED_OK.findall(web.log()))

    def killer() -> None:
        # A busy worker may finish its batch before the signal lands: go on until enough
        # batches were cut off.
        with web.stack.connect() as conn:
            while sending.is_set() and len(killed) < MAX_KILLS:
                if len(killed) >= MIN_KILLS and cut_off() >= MIN_CUT_OFF:
                    return
                time.sleep(chance.uniform(0.2, 1.0))
                # The worker inside a batch, at a random moment of it.
                workers = [pid for pid in web.gunicorn.children() if not gone(pid)]
                busy = workers_inside_a_batch(conn, workers)
                if busy:
                    time.sleep(chance.uniform(0, 0.01))
                    kill(busy[0])
                    killed.append(busy[0])

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    deadline = time.monotonic() + 150
    try:
        # The SDK streams messages the whole time the workers are being killed.
        while thread.is_alive() or len(web.sdk.message_ids) < MIN_MESSAGES:
            assert time.monotonic() < deadline, f"{len(killed)} kills in 150s (seed {seed})"
            if web.sdk.backlog() < 1000:  # as fast as it sends, no faster
                web.sdk.track(100)
            time.sleep(0.05)
    finally:
        sending.clear()
        thread.join(timeout=10)
    web.sdk.flush(240)

    assert_stored_once(web)
    # The master replaced every worker it lost.
    wait_for(lambda: len(web.gunicorn.children()) == 2, 60, "two workers again")
    assert web.gunicorn.alive()
    print(f"seed {seed}: {len(killed)} kills, {cut_off()} batches cut off and sent again")
    assert cut_off() >= MIN_CUT_OFF, f"kills cut batches off (seed {seed})"
