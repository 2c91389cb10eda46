"""How long the health engine takes on the synthetic 10M-event organization, in one run.

(a) the baseline: one scan of the product's activity events grouped by account (warm);
(b) a full computation (`health_compute(full=True)`) as of the dataset's last day;
(c) the nightly run: one more day of events arrives, then `health_compute(full=False)`
    as of that day;
(d) the peak memory of `manage.py compute_health --full` in a subprocess;
(e) the recompute a settings save enqueues, for three kinds of change (printed after (b)).

Targets: full <= 3x the scan, incremental <= 0.3x the scan, worker peak RSS < 1 GB.
Every figure comes from this one run; the ratios compare figures of the same run.
With --explain, the engine's statements are run again one by one (rolled back) under
EXPLAIN (ANALYZE, BUFFERS) and the slowest plans are printed and saved.
It is a report: it exits 0 when targets are missed, non-zero only on errors.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.synthetic import EVENTS, ORG_SLUG, PRODUCT_KEY, ROOT, django_setup
from vitals.tenancy.rls import owner_session

SCAN_SQL = (
    "SELECT account_pk, count(*) FROM ingestion_event"
    " WHERE product_id = %s AND type IN (1, 2, 3) GROUP BY 1"
)
GB = 1024**3


# The engine's own statements (the ORM's, e.g. RollupState saves, need their results).
_EXPLAINED = (
    "INSERT INTO health_",
    "UPDATE health_",
    "DELETE FROM health_",
    "CREATE TEMP TABLE",
    "SELECT portfolio",
)


class StatementLog:
    """Times every statement the engine runs (and, when explaining, keeps its plan)."""

    def __init__(self, *, explain: bool = False) -> None:
        self.explain = explain
        self.rows: list[tuple[str, float, str | None]] = []

    def __call__(
        self,
        execute: Callable[..., Any],
        sql: str,
        params: Any,
        many: bool,
        context: dict[str, Any],
    ) -> Any:
        label = statement_label(sql)
        plan = None
        started = time.perf_counter()
        if self.explain and label.startswith(_EXPLAINED) and _explainable(sql):
            # EXPLAIN ANALYZE runs the statement; a SELECT is run again for its result.
            result = execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params, many, context)
            plan = "\n".join(row[0] for row in context["cursor"].fetchall())
            if label.startswith("SELECT"):
                result = execute(sql, params, many, context)
        else:
            result = execute(sql, params, many, context)
        self.rows.append((label, time.perf_counter() - started, plan))
        return result


def _explainable(sql: str) -> bool:
    """One statement EXPLAIN accepts (not a table definition with columns)."""
    text = " ".join(sql.split()).rstrip(";")
    return ";" not in text and not re.match(r"CREATE TEMP TABLE \w+ \(", text)


def statement_label(sql: str) -> str:
    text = " ".join(sql.split())
    for pattern in (
        r"^(DELETE FROM \w+)",
        r"^(INSERT INTO \w+)",
        r"^(UPDATE \w+)",
        r"^(CREATE TEMP TABLE \w+)",
        r"^(ANALYZE [\w, ]+)",
    ):
        if match := re.match(pattern, text):
            return match.group(1)
    if match := re.search(r"^WITH .*?\)\s*(UPDATE \w+|INSERT INTO \w+)", text):
        return match.group(1)
    if text.startswith("WITH") and "jsonb_build_object( 'as_of'" in text:
        return "SELECT portfolio summary"
    return text[:60]


@contextmanager
def statements_logged(log: StatementLog) -> Iterator[None]:
    from django.db import connection

    with connection.execute_wrapper(log):
        yield


class _Rollback(Exception):
    """Raised to leave a measured transaction without keeping what it wrote."""


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


# Setup, not measured: runs as the owner, outside row-level security (docs/security.md).
@owner_session()
def scan_seconds(product_id: int) -> float:
    from django.db import connection

    with connection.cursor() as cursor:
        for _ in range(2):  # the second run is the warm one
            started = time.perf_counter()
            cursor.execute(SCAN_SQL, [product_id])
            cursor.fetchall()
            seconds = time.perf_counter() - started
    return seconds


# Setup, not measured: runs as the owner, outside row-level security (docs/security.md).
@owner_session()
def next_day_remove(*, product_id: int, after: date) -> None:
    """Undo an earlier run's extra day, so the dataset ends on its as-of day again."""
    from django.db import connection, transaction

    cutoff = datetime.combine(after + timedelta(days=1), datetime.min.time(), UTC)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM ingestion_seenmessage WHERE product_id = %s AND message_id IN ("
            " SELECT message_id FROM ingestion_event WHERE product_id = %s AND event_time >= %s)",
            [product_id, product_id, cutoff],
        )
        cursor.execute(
            "DELETE FROM ingestion_event WHERE product_id = %s AND event_time >= %s",
            [product_id, cutoff],
        )
        for table, column in (
            ("health_accounthealth", "as_of"),
            ("health_portfoliohealth", "as_of"),
            ("health_user_day", "day"),
            ("health_session", "day"),
            ("ingestion_touchedday", "day"),
        ):
            cursor.execute(
                f"DELETE FROM {table} WHERE product_id = %s AND {column} > %s", [product_id, after]
            )
        # Sessions and states were built past `after`: the next run rebuilds them all.
        cursor.execute(
            "UPDATE health_rollupstate SET sessions_cutoff = NULL, state_as_of = NULL"
            " WHERE product_id = %s",
            [product_id],
        )


# Setup, not measured: runs as the owner, outside row-level security (docs/security.md).
@owner_session()
def next_day_insert(*, organization_id: int, product_id: int, day: date) -> int:
    """One more day of activity, as ingestion would have stored it: the same weekday of the
    week before, moved forward a week, with new ids, ledger rows and a touched-day mark."""
    from django.db import connection, transaction

    start = datetime.combine(day, datetime.min.time(), UTC)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT vitals_ensure_event_partition(%s)", [day])
        cursor.execute(
            """
            WITH stored AS (
                INSERT INTO ingestion_event (id, organization_id, product_id, event_time,
                    received_at, type, message_id, user_pk, account_pk, event_key_id, raw)
                SELECT e.new_id, e.organization_id, e.product_id,
                       e.event_time + interval '7 days', e.received_at + interval '7 days',
                       e.type, e.mid, e.user_pk, e.account_pk, e.event_key_id,
                       e.raw || jsonb_build_object('messageId', e.mid, 'timestamp',
                           to_char((e.event_time + interval '7 days') AT TIME ZONE 'UTC',
                                   'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
                FROM (
                    SELECT w.*, 'bn-' || lpad(w.new_id::text, 12, '0') AS mid FROM (
                        SELECT e.*,
                               nextval(pg_get_serial_sequence('ingestion_event', 'id')) AS new_id
                        FROM ingestion_event e
                        WHERE e.product_id = %(product)s AND e.type IN (1, 2, 3)
                          AND e.event_time >= %(start)s::timestamptz - interval '7 days'
                          AND e.event_time < %(start)s::timestamptz - interval '6 days'
                    ) w
                ) e
                ORDER BY e.event_time
                RETURNING message_id
            )
            INSERT INTO ingestion_seenmessage (organization_id, product_id, message_id)
            SELECT %(org)s, %(product)s, message_id FROM stored
            """,
            {"org": organization_id, "product": product_id, "start": start},
        )
        inserted = cursor.rowcount
        cursor.execute(
            "INSERT INTO ingestion_touchedday (organization_id, product_id, day)"
            " VALUES (%s, %s, %s) ON CONFLICT (product_id, day) DO NOTHING",
            [organization_id, product_id, day],
        )
        cursor.execute("ANALYZE ingestion_event")
    return inserted


def compute_in_subprocess(as_of: date) -> tuple[float, int, int | None]:
    """Wall seconds and peak RSS (bytes) of `manage.py compute_health --full`, plus the
    peak RSS of its PostgreSQL backend when /proc shows it (else None)."""
    command = [
        sys.executable,
        str(ROOT / "manage.py"),
        "compute_health",
        "--org",
        ORG_SLUG,
        "--product",
        PRODUCT_KEY,
        "--as-of",
        as_of.isoformat(),
        "--full",
    ]
    backend_peak: list[int] = []
    done = threading.Event()
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "DB_CONN_MAX_AGE": "0"})
    watcher = threading.Thread(target=_watch_backend, args=(process.pid, done, backend_peak))
    watcher.start()
    try:
        returncode = process.wait()
    finally:
        done.set()
        watcher.join()
    seconds = time.perf_counter() - started
    if returncode != 0:
        raise RuntimeError(f"compute_health exited with {returncode}")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KB on Linux
    return seconds, peak_kb * 1024, max(backend_peak) if backend_peak else None


def _watch_backend(child_pid: int, done: threading.Event, peaks: list[int]) -> None:
    """Poll the backend serving the child (by client port) for its VmHWM."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    conninfo = {
        "dbname": db["NAME"],
        "user": db["USER"],
        "host": db["HOST"] or None,
        "port": db["PORT"] or None,
        "password": db["PASSWORD"] or None,
    }
    try:
        with psycopg.connect(**{k: v for k, v in conninfo.items() if v}, autocommit=True) as conn:
            while not done.wait(0.5):
                rows = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND query ILIKE %s AND state = 'active'",
                    ["%health_%"],
                ).fetchall()
                for (pid,) in rows:
                    try:
                        status = Path(f"/proc/{pid}/status").read_text()
                    except OSError:
                        continue
                    if match := re.search(r"VmHWM:\s+(\d+) kB", status):
                        peaks.append(int(match.group(1)) * 1024)
    except Exception as exc:  # the watcher is best effort; the figure is then missing
        print(f"  (backend memory not sampled: {exc})", flush=True)


def explain_engine(product: Any, as_of: date, out: Path, top: int) -> list[tuple[str, float]]:
    """Each layer of a full computation under EXPLAIN (ANALYZE, BUFFERS), rolled back."""
    from django.db import connection, transaction

    from health.catalog import health_settings_for
    from health.engine import daily, evaluate, state
    from health.engine.maps import core_map_for
    from health.engine.windows import Windows

    windows = Windows.for_day(as_of, product.organization.timezone)
    settings = health_settings_for(product=product)
    core = core_map_for(product=product, settings=settings)
    steps = [
        (
            "daily.rebuild_all",
            lambda: daily.rebuild_all(product=product, windows=windows, core=core),
        ),
        (
            "state.state_rebuild",
            lambda: state.state_rebuild(
                product=product, windows=windows, settings=settings, core=core
            ),
        ),
        (
            "evaluate.account_health_write",
            lambda: evaluate.account_health_write(
                product=product, windows=windows, settings=settings, k=core.k
            ),
        ),
        (
            "evaluate.portfolio_write",
            lambda: evaluate.portfolio_write(
                product=product, windows=windows, settings=settings, k=core.k
            ),
        ),
    ]
    log = StatementLog(explain=True)
    timings: list[tuple[str, float]] = []

    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = '512MB'")  # as health_compute does
                cursor.execute("SET LOCAL jit = off")
            for name, step in steps:
                first = len(log.rows)
                with statements_logged(log):
                    seconds, _ = timed(step)
                timings.append((name, seconds))
                for label, stmt_seconds, _ in log.rows[first:]:
                    print(f"    {name:30} {label:42} {stmt_seconds:8.2f}s", flush=True)
            raise _Rollback
    except _Rollback:
        pass
    slowest = sorted((row for row in log.rows if row[2]), key=lambda row: -row[1])[:top]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as handle:
        for label, seconds, plan in slowest:
            handle.write(f"==== {label}: {seconds:.2f}s\n{plan}\n\n")
    print(f"  plans of the {len(slowest)} slowest statements written to {out}")
    return timings


# Setup, not measured: runs as the owner, outside row-level security (docs/security.md).
@owner_session()
def statistics_prime() -> float | None:
    """The engine analyzes ingestion_event's parent once, when its bucket statistics are
    missing (health/engine/daily.py): a one-time cost of a new database, done here
    before measuring so the figures are those of every later run."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_statistic_ext s JOIN pg_statistic_ext_data d"
            " ON d.stxoid = s.oid WHERE s.stxname = 'ingestion_event_user_bucket'"
        )
        if cursor.fetchone()[0]:
            return None
        started = time.perf_counter()
        cursor.execute("ANALYZE ingestion_event")
    return time.perf_counter() - started


ROLLUP_TABLES = (
    "health_user_day",
    "health_session",
    "health_pair_state",
    "health_account_state",
    "health_account_day",
    "health_accounthealth",
)


# Setup, not measured: runs as the owner, outside row-level security (docs/security.md).
@owner_session()
def rollups_compact() -> float:
    """A full computation deletes and rewrites every rollup row of the product; repeated
    runs on a database without autovacuum (as this machine's) pile up dead rows and later
    runs measure the bloat. Compacting first makes every run start as the first one on a
    fresh database does."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM FULL ANALYZE {', '.join(ROLLUP_TABLES)}")
    return time.perf_counter() - started


# What an admin changes on the settings page, and the engine path each takes.
SETTINGS_CHANGES = (
    ("thresholds (bands only)", {"score_lower": 30.0, "score_upper": 50.0}),
    ("CFU lower limit (states from daily rows)", {"cfu_lower": 35.0}),
    ("core items (daily rows from events)", {"core_items": [{"module": "Reports"}]}),
)


def settings_recompute_seconds(product: Any, as_of: date, change: dict[str, Any]) -> float:
    """The recompute a settings save enqueues (as of the day already computed), timed and
    rolled back with the change."""
    from django.db import transaction

    from health.models import HealthSettings
    from health.services import health_compute
    from vitals.tenancy.scope import tenant_scope

    try:
        with transaction.atomic(), tenant_scope(product.organization, product):
            HealthSettings.objects.filter(product=product).update(**change)
            seconds, _ = timed(lambda: health_compute(product=product, as_of=as_of))
            raise _Rollback
    except _Rollback:
        pass
    return seconds


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the engine")
    parser.add_argument("--explain-out", type=Path, default=ROOT / "var" / "bench_explain.txt")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument(
        "--cap", type=int, default=900, help="statement timeout of the incremental run (s)"
    )
    args = parser.parse_args()
    django_setup()

    from django.db import OperationalError, connection

    from benchmarks.synthetic import dataset_ensure
    from health.services import event_ranges_summarize, health_compute
    from vitals.tenancy.models import Product
    from vitals.tenancy.scope import tenant_scope

    dataset = dataset_ensure(events=args.events)
    product = (
        Product.dangerously_unscoped.rls_bypass("benchmark setup")
        .select_related("organization")
        .get(pk=dataset.product_id)
    )
    as_of, next_day = dataset.last_day, dataset.last_day + timedelta(days=1)
    next_day_remove(product_id=product.pk, after=as_of)
    print(
        f"Health benchmark: product {ORG_SLUG}/{PRODUCT_KEY}, as of {as_of}, "
        f"{os.cpu_count()} CPUs, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )

    scan = scan_seconds(product.pk)
    print(f"(a) scan baseline (warm):          {scan:8.2f}s", flush=True)

    primed = statistics_prime()
    if primed is not None:
        print(f"    first run on this database: ingestion_event analyzed in {primed:.1f}s")
    summarized, ranges = timed(event_ranges_summarize)
    if ranges:
        # every run summarizes the ranges filled since the previous one (health/services.py)
        print(f"    after the bulk load: {ranges:,} event ranges summarized in {summarized:.1f}s")
    compacted = rollups_compact()
    print(f"    rollup tables compacted in {compacted:.1f}s (not measured)")

    full_log = StatementLog()
    with tenant_scope(product.organization, product), statements_logged(full_log):
        full, _ = timed(lambda: health_compute(product=product, as_of=as_of, full=True))
    print(f"(b) full compute:                  {full:8.2f}s", flush=True)
    for label, seconds, _ in full_log.rows:
        if seconds >= 0.05:
            print(f"      {label:42} {seconds:8.2f}s")

    print("(e) recompute after a settings change, as the settings page enqueues it (target:")
    print("    the explorer shows it within a minute), each rolled back:")
    for label, change in SETTINGS_CHANGES:
        seconds = settings_recompute_seconds(product, as_of, change)
        print(f"      {label:42} {seconds:8.2f}s  {verdict(seconds < 60)}", flush=True)

    insert_seconds, inserted = timed(
        lambda: next_day_insert(
            organization_id=product.organization_id, product_id=product.pk, day=next_day
        )
    )
    print(f"    next day {next_day}: {inserted:,} events inserted in {insert_seconds:.1f}s")
    incremental_log = StatementLog(explain=args.explain)
    timed_out = False
    try:
        # Bounded: a statement planned badly (see docs/benchmarks.md) can run for hours.
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = %s", [f"{args.cap}s"])
        with tenant_scope(product.organization, product), statements_logged(incremental_log):
            incremental, _ = timed(
                lambda: health_compute(product=product, as_of=next_day, full=False)
            )
    except OperationalError as exc:
        if "statement timeout" not in str(exc):
            raise
        timed_out, incremental = True, float(args.cap)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")
        next_day_remove(product_id=product.pk, after=as_of)
    shown = f"> {args.cap}s (a statement hit the cap)" if timed_out else f"{incremental:8.2f}s"
    print(f"(c) incremental compute (1 day):   {shown}", flush=True)
    for label, seconds, _ in incremental_log.rows:
        if seconds >= 0.05:
            print(f"      {label:42} {seconds:8.2f}s")
    if args.explain:
        plans = args.explain_out.with_name("bench_explain_incremental.txt")
        with plans.open("w") as handle:
            for label, seconds, plan in incremental_log.rows:
                if plan:
                    handle.write(f"==== {label}: {seconds:.2f}s\n{plan}\n\n")
        print(f"  plans of the incremental run written to {plans}")

    peak = backend_peak = None
    if not args.skip_memory:
        sub_seconds, peak, backend_peak = compute_in_subprocess(as_of)
        print(
            f"(d) compute_health --full subprocess: {sub_seconds:.2f}s, "
            f"worker peak RSS {peak / 2**20:.0f} MB",
            flush=True,
        )
        if backend_peak:
            print(
                f"    PostgreSQL backend peak RSS (VmHWM, incl. shared buffers touched): "
                f"{backend_peak / 2**20:.0f} MB - outside the worker, not in the target"
            )
        else:
            print("    PostgreSQL backend memory is outside the worker and not measured here")

    print("\nSummary (one run)")
    print(
        f"  full / scan        = {full / scan:6.2f}  (target <= 3)    {verdict(full <= 3 * scan)}"
    )
    print(
        f"  incremental / scan = {incremental / scan:6.2f}  (target <= 0.3)  "
        f"{verdict(incremental <= 0.3 * scan)}"
    )
    if peak is not None:
        print(f"  worker peak RSS    = {peak / GB:6.2f} GB (target < 1 GB) {verdict(peak < GB)}")

    if args.explain:
        print("\nEXPLAIN (ANALYZE, BUFFERS) of the engine, statement by statement (rolled back):")
        with tenant_scope(product.organization, product):
            for name, seconds in explain_engine(product, as_of, args.explain_out, top=6):
                print(f"  {name:24} {seconds:8.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
