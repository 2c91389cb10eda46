"""Server time of the Accounts Explorer and the drill-down at 100,000 accounts (issue 5).

Seeds once (benchmarks/ui_seed.py, set-based SQL, reused on the next run) the organization
`bench-ui`, then times requests through Django's test client in-process (middleware,
tenancy, selectors, templates; no network): every class of table interaction (default
view, each quick filter, searches, a sort by every column, deep pages, advanced and usage
filters) and the drill-down of a large, a mid-sized and a small account.

Per case, over --repeat requests after one warm-up: wall time p50/p95; the Django
process's CPU time per request (time.process_time) p50/p95; the PostgreSQL backend's CPU
per request (mean, from /proc, when the server runs on this machine; parallel workers
excluded); and the statements' own time, EXPLAIN ANALYZE's planning + execution summed
over the request's queries (median of 3). On a shared, noisy machine the CPU figures
say what a request costs; wall time says what a person waited.

A table case marked "new counts" changes the search or filters: its quick-filter counts
are recounted on every request (the cache is dropped), as on the first request of a new
view; sorting, paging and switching the quick filter keep the counts of the view.
Targets: p95 < 150 ms for table interactions, < 250 ms for a drill-down. It is a report:
it exits 0 when targets are missed, non-zero only on errors.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.synthetic import django_setup
from benchmarks.ui_seed import ACCOUNTS, DRILLED, ORG, PRODUCT, seed

TABLE_TARGET_MS = 150.0
DRILL_TARGET_MS = 250.0
HTMX_TABLE = {"HX-Request": "true", "HX-Target": "explorer-table"}
HTMX_LISTS = {"HX-Request": "true", "HX-Target": "account-lists"}


@dataclass(frozen=True)
class Case:
    label: str
    query: str  # after the explorer's URL, or an account id for a drill-down
    kind: str = "table"  # table / page / drill / lists
    new_counts: bool = False


def _cases() -> list[Case]:
    sorts = [
        "score", "cfu", "stickiness", "coverage", "users_at_risk", "visits", "health",
        "avg_session", "avg_dau", "avg_wau", "users_lifetime", "visits_lifetime",
        "product_first_seen", "created", "id",
    ]  # fmt: skip
    traits = ["plan", "industry", "employees", "country", "status", "website", "trait.seats"]
    large, medium, small = DRILLED
    return [
        Case("explorer, full page", "", kind="page"),
        Case("explorer, full page, counts recounted", "", kind="page", new_counts=True),
        Case("default view (30 days, -active users)", ""),
        Case("default view, counts recounted", "", new_counts=True),
        Case("quick filter Healthy", "?health=healthy"),
        Case("quick filter Neutral", "?health=neutral"),
        Case("quick filter At Risk", "?health=at-risk"),
        Case("any time (last-seen chip removed)", "?last_seen=all", new_counts=True),
        Case("search 'acme' (1 in 6)", "?q=acme", new_counts=True),
        Case("search 'labs 9' + sort by name", "?q=labs+9&sort=name", new_counts=True),
        Case("search id 'acc-0421'", "?q=acc-0421", new_counts=True),
        Case(
            "At Risk + search 'acme' + sort score",
            "?health=at-risk&q=acme&sort=score",
            new_counts=True,
        ),  # fmt: skip
        *(Case(f"sort by {key} desc", f"?sort=-{key}") for key in sorts),
        Case("sort by active users asc", "?sort=active_users"),
        Case("sort by score asc", "?sort=score"),
        Case("sort by name", "?sort=name"),
        Case("sort by name desc", "?sort=-name"),
        Case("sort by product last seen desc", "?sort=-product_last_seen"),
        Case("sort by last seen desc", "?sort=-last_seen"),
        Case("sort by last seen asc", "?sort=last_seen"),
        *(Case(f"sort by trait {key}", f"?sort={key}") for key in traits),
        Case("sort by trait plan desc", "?sort=-plan"),
        Case("Healthy, sort by plan", "?health=healthy&sort=plan"),
        Case("any time, sort by CFU desc, page 40", "?last_seen=all&sort=-cfu&page=40"),
        Case("default view, page 1,000", "?page=1000"),
        Case("any time, last page", "?last_seen=all&page=2000"),
        Case("sort by name, page 1,000", "?sort=name&page=1000"),
        Case("sort by plan, page 1,000", "?sort=plan&page=1000"),
        Case("filter plan = Pro", "?plan=Pro", new_counts=True),
        Case(
            "filter employees 100-500", "?employees_min=100&employees_max=500", new_counts=True
        ),  # fmt: skip
        Case("filter score >= 60", "?score_min=60", new_counts=True),
        Case("filter CFU band Low + region EMEA", "?cfu_band=Low&region=EMEA", new_counts=True),
        Case(
            "filter customer since 2025",
            "?first_seen_from=2025-01-01&first_seen_to=2025-12-31",
            new_counts=True,
        ),  # fmt: skip
        Case("filter trait seats=42", "?trait=seats%3D42", new_counts=True),
        Case(
            "filter used feature report_export", "?used_feature=report_export", new_counts=True
        ),  # fmt: skip
        Case("filter did not use module Reports", "?unused_module=Reports", new_counts=True),
        Case(
            "used feature + Healthy + sort by plan",
            "?used_feature=dash_view&health=healthy&sort=plan",
            new_counts=True,
        ),  # fmt: skip
        Case(f"drill-down, {DRILLED[large]:,} users", large, kind="drill"),
        Case(
            f"drill-down lists by visits, {DRILLED[large]:,} users",
            f"{large}/?rank=visits&usage=modules&zero=modules",
            kind="lists",
        ),  # fmt: skip
        Case(f"drill-down, {DRILLED[medium]:,} users", medium, kind="drill"),
        Case(f"drill-down, {DRILLED[small]:,} users", small, kind="drill"),
    ]


@dataclass(frozen=True)
class Result:
    wall: list[float]
    cpu: list[float]
    pg_cpu: float | None  # mean ms per request
    statements: float | None  # EXPLAIN ANALYZE ms, summed over the request's queries
    queries: int


def _url(case: Case) -> tuple[str, dict[str, str]]:
    base = f"/o/{ORG}/p/{PRODUCT}/"
    if case.kind in ("drill", "lists"):
        account = case.query if "/" in case.query else f"{case.query}/"
        return f"{base}accounts/{account}", (HTMX_LISTS if case.kind == "lists" else {})
    return base + case.query, (HTMX_TABLE if case.kind == "table" else {})


def _forget_counts() -> None:
    """Drops the cached quick-filter counts (and only them: the custom traits stay)."""
    from django.core.cache import cache

    store = getattr(cache, "_cache", None)
    if store is None:
        cache.clear()
        return
    for key in [key for key in store if "explorer:counts:" in key]:
        store.pop(key, None)
        cache._expire_info.pop(key, None)  # type: ignore[attr-defined]


def _backend_cpu_ms(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _backend_pid() -> int | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    return pid if Path(f"/proc/{pid}/stat").exists() else None


def measure(client, case: Case, *, repeat: int, organization) -> Result:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url, headers = _url(case)
    response = client.get(url, headers=headers)  # warm: caches, plans
    assert response.status_code == 200, (url, response.status_code)
    pid = _backend_pid()
    pg_before = _backend_cpu_ms(pid)
    wall, cpu = [], []
    for _ in range(repeat):
        if case.new_counts:
            _forget_counts()
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get(url, headers=headers)
        cpu.append((time.process_time() - cpu_started) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    pg_after = _backend_cpu_ms(pid)
    pg_cpu = None
    if pg_before is not None and pg_after is not None and _backend_pid() == pid:
        pg_cpu = (pg_after - pg_before) / repeat
    if case.new_counts:
        _forget_counts()
    with CaptureQueriesContext(connection) as captured:
        client.get(url, headers=headers)
    statements = _explained_ms([q["sql"] for q in captured.captured_queries], organization)
    return Result(wall, cpu, pg_cpu, statements, len(captured.captured_queries))


def _explained_ms(queries: list[str], organization) -> float | None:
    """Planning + execution time of the request's reads, by EXPLAIN ANALYZE (median of 3),
    in the organization's scope as the request ran them (row-level security)."""
    from django.db import connection

    from vitals.tenancy.scope import tenant_scope

    runs = []
    for _ in range(3):
        total = 0.0
        with tenant_scope(organization), connection.cursor() as cursor:
            for sql in queries:
                if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
                    continue
                cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
                plan = cursor.fetchone()[0]
                plan = json.loads(plan) if isinstance(plan, str) else plan
                total += plan[0]["Planning Time"] + plan[0]["Execution Time"]
        runs.append(total)
    return statistics.median(runs)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--only", default="", help="run the cases whose label contains this")
    parser.add_argument("--no-export", action="store_true", help="skip the CSV export timing")
    args = parser.parse_args()
    django_setup()
    from django.conf import settings
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()  # lets the test client talk to "testserver"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    seeded = seed()
    client = Client()
    client.force_login(seeded.user)
    print(
        f"\n{ACCOUNTS:,} accounts, {args.repeat} requests a case, Django test client"
        f" in-process; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    header = (
        f"{'request':<46} {'wall p50':>8} {'p95':>6} {'cpu p50':>8} {'p95':>6}"
        f" {'pg cpu':>7} {'sql':>6} {'q':>3}  target"
    )
    print(header)
    missed = []
    for case in _cases():
        if args.only and args.only.lower() not in case.label.lower():
            continue
        result = measure(client, case, repeat=args.repeat, organization=seeded.organization)
        target = DRILL_TARGET_MS if case.kind in ("drill", "lists") else TABLE_TARGET_MS
        p95 = percentile(result.wall, 0.95)
        cpu95 = percentile(result.cpu, 0.95)
        verdict = f"< {target:.0f}"
        if case.kind != "page":
            verdict += " ok" if p95 < target else " MISSED"
            if p95 >= target:
                missed.append(case.label)
        pg = f"{result.pg_cpu:7.1f}" if result.pg_cpu is not None else f"{'-':>7}"
        sql = f"{result.statements:6.1f}" if result.statements is not None else f"{'-':>6}"
        label = case.label + (" *" if case.new_counts else "")
        print(
            f"{label:<46} {statistics.median(result.wall):8.1f} {p95:6.1f}"
            f" {statistics.median(result.cpu):8.1f} {cpu95:6.1f} {pg} {sql}"
            f" {result.queries:3d}  {verdict}",
            flush=True,
        )
    print("* counts recounted on every request (a new search or filter)")
    print(f"load average after: {os.getloadavg()[0]:.1f}; missed: {missed or 'none'}")
    if not args.no_export and not args.only:
        base = f"/o/{ORG}/p/{PRODUCT}/"
        measure_export(client, base + "export.csv?last_seen=all")
        measure_export(client, base + "export.csv?last_seen=all&all=1")
    return 0


def measure_export(client, url: str) -> None:
    """Time to stream a whole export, and the Python memory it needed at most: a
    streamed export stays flat however many accounts it writes."""
    import resource
    import tracemalloc

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.perf_counter()
    response = client.get(url)
    rows = size = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        rows += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    print(
        f"export {url.split('?', 1)[1]:<28} {rows - 1:>8,} rows {size / 1e6:6.1f} MB"
        f" in {elapsed:5.1f} s; Python peak {peak / 1e6:5.1f} MB,"
        f" max RSS growth {rss_growth / 1024:5.1f} MB"
    )


if __name__ == "__main__":
    sys.exit(main())
