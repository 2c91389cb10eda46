"""Ingestion throughput against a raw COPY of the same rows, in one run on one database.

Generates N Segment messages (deterministic JSONL), then measures
(a) raw COPY: the rows ingestion would store, COPYed into a bare table of the same columns;
(b) file import: `manage.py ingest_events FILE --org benchi --product app --no-progress`;
(c) HTTP: gunicorn (2 workers) and concurrent clients posting 500-message batches to
    /v1/batch with a write key, until every message is in.
(b) and (c) each start from an emptied organization, so no message is a duplicate.
Targets: file import >= 0.5x and HTTP >= 0.2x the raw COPY rate (events per second).
It is a report: it exits 0 when targets are missed, non-zero only on errors.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.synthetic import PAGE_PATHS, ROOT, TRACK_EVENTS, django_setup
from vitals.tenancy.rls import owner_session

FILE_ORG, HTTP_ORG, PRODUCT_KEY = "benchi", "benchh", "app"
TYPE_CODES = {"track": 1, "page": 2, "identify": 4, "group": 5}
BASE_TIME = datetime(2025, 10, 1, tzinfo=UTC)  # fixed, so the file is the same every run
HTTP_DEADLINE_SECONDS = 900


def messages_generate(count: int, *, seed: int = 42) -> list[dict[str, Any]]:
    """Messages over 30 days: each user's first message is a group call (its membership),
    then mostly track and page calls, some identify and account re-groups."""
    rng = random.Random(seed)
    users = max(10, count // 40)
    accounts = max(2, users // 25)
    step = timedelta(days=30) / count
    joined: set[int] = set()
    messages = []
    for i in range(count):
        user = min(users - 1, int(users * rng.random() ** 2))
        at = BASE_TIME + step * i
        message: dict[str, Any] = {
            "userId": f"user-{user:06d}",
            "messageId": f"bi-{i:09d}",
            "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "context": {"library": {"name": "analytics-python", "version": "2.3.1"}},
        }
        roll = rng.random()
        if user not in joined or roll < 0.01:
            joined.add(user)
            account = user % accounts
            message |= {
                "type": "group",
                "groupId": f"acct-{account:05d}",
                "traits": {"name": f"Account {account}", "plan": "pro"},
            }
        elif roll < 0.04:
            message |= {"type": "identify", "traits": {"email": f"user{user}@example.com"}}
        elif roll < 0.65:
            event = TRACK_EVENTS[int(len(TRACK_EVENTS) * rng.random() ** 2)]
            message |= {"type": "track", "event": event, "properties": {"value": i % 97}}
        else:
            path = PAGE_PATHS[int(len(PAGE_PATHS) * rng.random() ** 2)]
            message |= {"type": "page", "properties": {"path": path, "title": path}}
        messages.append(message)
    return messages


def jsonl_write(messages: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        for message in messages:
            handle.write(orjson.dumps(message) + b"\n")


# Setup, not measured: runs as the owner, outside row-level security (docs/security.md).
@owner_session()
def copy_rate(messages: list[dict[str, Any]]) -> float:
    """Events per second of COPYing the rows into a bare table like ingestion_event."""
    from django.db import connection, transaction

    received_at = datetime.now(UTC)
    rows = [
        (
            i + 1,
            1,
            1,
            datetime.fromisoformat(m["timestamp"]),
            received_at,
            TYPE_CODES[m["type"]],
            m["messageId"],
            i % 5000 + 1,
            None,
            i % 200 + 1,
            None,
            i % 100 + 1 if m["type"] in ("track", "page") else None,
            None,
            orjson.dumps(m).decode(),
        )
        for i, m in enumerate(messages)
    ]
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy_target")
        cursor.execute(
            """
            CREATE TABLE bench_copy_target (
                id bigint, organization_id bigint NOT NULL, product_id bigint NOT NULL,
                event_time timestamptz NOT NULL, received_at timestamptz NOT NULL,
                type smallint NOT NULL, message_id text NOT NULL, user_pk bigint,
                anonymous_id text, account_pk bigint, context_account_pk bigint,
                event_key_id integer, warning text, raw jsonb NOT NULL)
            """
        )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.copy("COPY bench_copy_target FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_copy_target")
    return len(rows) / seconds


# Setup, not measured: runs as the owner, outside row-level security (docs/security.md).
@owner_session()
def organization_reset(slug: str) -> Any:
    """An organization with product "app" and no data: created, or emptied."""
    from django.db import connection, transaction

    from benchmarks.synthetic import _wipe
    from vitals.tenancy.models import Organization, Product
    from vitals.tenancy.services import organization_create, product_create

    organization = Organization.objects.filter(slug=slug).first()
    if organization is None:
        organization = organization_create(slug=slug, name=f"Bench ingest ({slug})")
    with transaction.atomic(), connection.cursor() as cursor:
        _wipe(cursor, org=organization.pk)
    # Reclaim the wiped rows and refresh statistics, so a run does not inherit the previous
    # run's dead tuples (autovacuum may be off or behind on a scratch database).
    with connection.cursor() as cursor:
        cursor.execute(
            "VACUUM ANALYZE ingestion_event, ingestion_seenmessage, ingestion_enduser,"
            " ingestion_account, ingestion_accountmembership, ingestion_traitschange,"
            " ingestion_eventkey, ingestion_touchedday"
        )
    product = Product.dangerously_unscoped.filter(organization=organization, key=PRODUCT_KEY)
    return product.first() or product_create(organization=organization, key=PRODUCT_KEY, name="App")


# Setup, not measured: runs as the owner, outside row-level security (docs/security.md).
@owner_session()
def stored_count(product: Any) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ingestion_event WHERE product_id = %s", [product.pk])
        return cursor.fetchone()[0]


def file_rate(path: Path, count: int) -> tuple[float, str]:
    organization_reset(FILE_ORG)
    command = [
        sys.executable,
        str(ROOT / "manage.py"),
        "ingest_events",
        str(path),
        "--org",
        FILE_ORG,
        "--product",
        PRODUCT_KEY,
        "--no-progress",
    ]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"ingest_events failed: {result.stderr[-2000:]}")
    return count / seconds, result.stdout.strip().splitlines()[-1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(port: int, process: subprocess.Popen[bytes], cap: float = 60) -> None:
    deadline = time.monotonic() + cap
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer within {cap:.0f}s")


def _client(
    port: int,
    auth: str,
    bodies: queue.Queue[bytes],
    totals: list[int],
    errors: list[str],
    lock: threading.Lock,
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    while True:
        try:
            body = bodies.get_nowait()
        except queue.Empty:
            return
        for _attempt in range(20):
            try:
                connection.request("POST", "/v1/batch", body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                last = f"{type(exc).__name__}: {exc}"
                time.sleep(0.5)
                continue
            if response.status in (429, 503):
                last = f"HTTP {response.status}"
                time.sleep(float(response.getheader("Retry-After") or 1))
                continue
            if response.status != 200:
                last = f"HTTP {response.status}: {payload[:300]!r}"
                break
            result = orjson.loads(payload)
            with lock:
                totals[0] += result["accepted"]
                totals[1] += result["duplicate"]
                totals[2] += result["rejected"]
            last = ""
            break
        if last:
            with lock:
                errors.append(last)


def http_rate(messages: list[dict[str, Any]], *, clients: int, batch: int) -> tuple[float, str]:
    from vitals.tenancy.services import write_key_create

    product = organization_reset(HTTP_ORG)
    _, raw_key = write_key_create(product=product, label="bench_ingest")
    auth = "Basic " + base64.b64encode(f"{raw_key}:".encode()).decode()
    bodies: queue.Queue[bytes] = queue.Queue()
    for start in range(0, len(messages), batch):
        bodies.put(orjson.dumps({"batch": messages[start : start + batch]}))
    port = _free_port()
    env = {**os.environ, "INGEST_RATE_LIMIT_PER_MINUTE": str(10**9), "DB_CONN_MAX_AGE": "60"}
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "vitals.wsgi:application",
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        "2",
        "--timeout",
        "120",
        "--graceful-timeout",
        "5",
    ]
    log = (ROOT / "var" / "bench_gunicorn.log").open("wb")
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
    )
    try:
        _wait_until_up(port, server)
        totals, errors, lock = [0, 0, 0], [], threading.Lock()
        threads = [
            threading.Thread(
                target=_client, args=(port, auth, bodies, totals, errors, lock), daemon=True
            )
            for _ in range(clients)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=max(1.0, HTTP_DEADLINE_SECONDS - (time.perf_counter() - started)))
        seconds = time.perf_counter() - started
        if any(thread.is_alive() for thread in threads):
            raise RuntimeError(f"HTTP run did not finish within {HTTP_DEADLINE_SECONDS}s")
    finally:
        _stop(server)
        log.close()
    if errors:
        raise RuntimeError(f"{len(errors)} batches failed, first: {errors[0]}")
    stored = stored_count(product)
    summary = f"accepted {totals[0]}, duplicate {totals[1]}, rejected {totals[2]}, stored {stored}"
    return len(messages) / seconds, summary


def _stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM gunicorn's process group (its workers included), SIGKILL if it lingers."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--messages", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--file", type=Path, default=ROOT / "var" / "bench_ingest.jsonl")
    args = parser.parse_args()
    django_setup()

    messages = messages_generate(args.messages)
    jsonl_write(messages, args.file)
    print(
        f"Ingest benchmark: {len(messages):,} messages ({args.file.stat().st_size / 2**20:.0f}"
        f" MB JSONL), {os.cpu_count()} CPUs, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )

    copy = copy_rate(messages)
    print(f"(a) raw COPY into a bare table:  {copy:10,.0f} events/s", flush=True)
    file, file_summary = file_rate(args.file, len(messages))
    print(f"(b) ingest_events file import:   {file:10,.0f} events/s  ({file_summary})", flush=True)
    api, api_summary = http_rate(messages, clients=args.clients, batch=args.batch)
    print(
        f"(c) HTTP /v1/batch, {args.clients} clients x {args.batch}: {api:10,.0f} events/s"
        f"  ({api_summary})",
        flush=True,
    )

    print("\nSummary (one run)")
    print(f"  file / COPY = {file / copy:5.2f}  (target >= 0.5)  {verdict(file >= 0.5 * copy)}")
    print(f"  HTTP / COPY = {api / copy:5.2f}  (target >= 0.2)  {verdict(api >= 0.2 * copy)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
