"""Data for the fault tests, set up through the command-line contract and read back with
plain SQL (the tests' processes share no Django connection with pytest)."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from segment.analytics import Client as SegmentClient

from health.conformance import fixture_dirs
from tests.faults.processes import Stack
from tests.health.helpers import canonical

# Zones spread round the clock: at any moment most are well inside their local day.
ZONES = ("UTC", "Asia/Kolkata", "America/New_York", "Pacific/Auckland", "Asia/Tokyo")


def zone_inside_its_day(*, exclude: tuple[str, ...] = ()) -> tuple[str, date]:
    """A zone whose local clock is far from midnight, and its local yesterday: the day a
    nightly run queues, and not about to change while the test runs."""
    now = datetime.now(UTC)
    for name in ZONES:
        local = now.astimezone(ZoneInfo(name))
        if name not in exclude and time(0, 30) <= local.time() <= time(23, 30):
            return name, local.date() - timedelta(days=1)
    raise AssertionError("no zone is inside its day")  # impossible with ZONES


def basic_fixture() -> Path:
    return next(path for path in fixture_dirs() if path.name == "basic")


def import_basic(
    stack: Stack, *, slug: str, timezone_name: str = "UTC", events: bool = True
) -> None:
    """The `basic` conformance org (catalog, settings and, unless told, its events) under
    its own slug and time zone."""
    config = json.loads((basic_fixture() / "config.json").read_text())
    config["organization"].update(slug=slug, timezone=timezone_name)
    path = stack.tmp / f"config-{slug}.json"
    path.write_text(json.dumps(config))
    stack.manage("import_config", str(path))
    if events:
        events_path = str(basic_fixture() / "events.jsonl")
        stack.manage(
            "ingest_events", events_path, "--org", slug, "--product", "app", "--no-progress"
        )


def write_key_create(stack: Stack, *, org: str, product: str = "app") -> str:
    out = stack.manage("create_write_key", "--org", org, "--product", product)
    return out.strip().splitlines()[-1]


def product_id(conn: psycopg.Connection, *, org: str, product: str = "app") -> int:
    row = conn.execute(
        "SELECT p.id FROM tenancy_product p JOIN tenancy_organization o"
        " ON o.id = p.organization_id WHERE o.slug = %s AND p.key = %s",
        [org, product],
    ).fetchone()
    assert row is not None, f"no product {org}/{product}"
    return int(row[0])


def health_runs(conn: psycopg.Connection, product: int, *, since: int = 0) -> list[tuple[Any, ...]]:
    """(id, as_of, status, error) of the product's runs from id `since` on, oldest first."""
    return conn.execute(
        "SELECT id, as_of, status, error FROM health_healthrun"
        " WHERE product_id = %s AND id >= %s ORDER BY id",
        [product, since],
    ).fetchall()


def stored_counts(conn: psycopg.Connection, message_ids: list[str]) -> dict[str, int]:
    """How many events each messageId became (missing ones are absent)."""
    rows = conn.execute(
        "SELECT message_id, count(*) FROM ingestion_event WHERE message_id = ANY(%s)"
        " GROUP BY message_id",
        [message_ids],
    ).fetchall()
    return {message_id: count for message_id, count in rows}


def health_snapshot(conn: psycopg.Connection, product: int, as_of: date | str) -> list[str]:
    """Every computed value of every account row and the portfolio, comparable as data
    (numbers rounded well inside the spec's 1e-6, as tests/health/helpers.py does)."""
    rows = conn.execute(
        "SELECT to_jsonb(h) - 'id' - 'computed_at' FROM health_accounthealth h"
        " WHERE product_id = %s AND as_of = %s ORDER BY account_id",
        [product, as_of],
    ).fetchall()
    summary = conn.execute(
        "SELECT summary FROM health_portfoliohealth WHERE product_id = %s AND as_of = %s",
        [product, as_of],
    ).fetchone()
    values = [row[0] for row in rows] + [summary[0] if summary else None]
    return [canonical(value) for value in values]


class Sdk:
    """Segment's analytics-python client, batching in its own thread and retrying as it
    does in production (network errors with back-off, 5xx, a 503's Retry-After)."""

    def __init__(self, write_key: str, host: str, *, upload_size: int = 50) -> None:
        self.errors: list[str] = []
        self.message_ids: list[str] = []
        self.client = SegmentClient(
            write_key,
            host=host,
            upload_size=upload_size,
            upload_interval=0.05,
            timeout=60,
            max_retries=10,
            on_error=lambda error, batch: self.errors.append(f"{error!r} ({len(batch)} lost)"),
        )

    def track(self, count: int, *, prefix: str = "m") -> None:
        for _ in range(count):
            message_id = f"{prefix}-{uuid.uuid4().hex}"
            success, _ = self.client.track(
                user_id=f"u{len(self.message_ids) % 7}",
                event="Report Exported",
                properties={"n": len(self.message_ids)},
                message_id=message_id,
                timestamp=datetime(2026, 10, 20, 12, tzinfo=UTC),
            )
            assert success, "the SDK's queue is full"
            self.message_ids.append(message_id)

    def backlog(self) -> int:
        """Messages queued in the SDK, not yet sent."""
        return self.client.queue.qsize()

    def flush(self, seconds: float) -> None:
        """Wait until the SDK has sent (or given up on) everything it queued."""
        done = threading.Thread(target=self.client.flush, daemon=True)
        done.start()
        done.join(timeout=seconds)
        assert not done.is_alive(), f"the SDK still had messages to send after {seconds:.0f}s"

    def close(self) -> None:
        self.client.join()


def accepted_total(conn: psycopg.Connection, product: int) -> int:
    """Messages the ingestion counters say were accepted: a retried batch must not count
    twice."""
    row = conn.execute(
        "SELECT coalesce(sum(accepted), 0) FROM ingestion_ingestcounter WHERE product_id = %s",
        [product],
    ).fetchone()
    return int(row[0])


def health_run_enqueue_command(*, org: str, as_of: str, product: str = "app") -> str:
    """Python for `manage.py shell -c`: queue a run through the service the settings pages
    and beat use, and print its id."""
    return (
        "import datetime\n"
        "from health.services import health_recompute_enqueue\n"
        "from vitals.tenancy.models import Product\n"
        "from vitals.tenancy.scope import rls_bypass\n"
        "with rls_bypass('fault test: the product by its slugs'):\n"
        "    product = Product.dangerously_unscoped.select_related('organization')"
        f".get(organization__slug={org!r}, key={product!r})\n"
        f"as_of = datetime.date.fromisoformat({as_of!r})\n"
        "run = health_recompute_enqueue(product=product, as_of=as_of)\n"
        "print(run.pk)\n"
    )


def health_run_enqueue(stack: Stack, *, org: str, as_of: str, product: str = "app") -> int:
    """Queue a run (its message goes to the stack's Redis); its id."""
    code = health_run_enqueue_command(org=org, as_of=as_of, product=product)
    return int(stack.manage("shell", "-c", code).strip().splitlines()[-1])


def ingest_late_group(stack: Stack, *, org: str, message_id: str) -> None:
    """u_00001 joins acc_0009 early in the basic fixture's window, arriving late: it moves
    their activity to that account, so the next run's results differ from the last."""
    message = {
        "type": "group",
        "userId": "u_00001",
        "groupId": "acc_0009",
        "timestamp": "2026-10-20T00:00:00Z",
        "messageId": message_id,
    }
    path = stack.tmp / f"{message_id}.jsonl"
    path.write_text(json.dumps(message) + "\n")
    stack.manage("ingest_events", str(path), "--org", org, "--product", "app", "--no-progress")


def backends(conn: psycopg.Connection, application: str) -> list[tuple[int, str | None]]:
    """(pid, wait event type) of the server sessions a process of the stack opened."""
    return conn.execute(
        "SELECT pid, wait_event_type FROM pg_stat_activity WHERE application_name = %s",
        [application],
    ).fetchall()
