"""`make load`: sustained ingestion over HTTP with the explorer in use, bounded in time.

Usage: DATABASE_URL=postgres://... python scripts/load.py

On a scratch database beside DATABASE_URL's (`<name>_load`, dropped and created anew,
dropped again at the end unless LOAD_KEEP_DATABASE=1): migrate, collectstatic, the demo
organization (`seed_demo`: its logins and explorer), an organization `load` with product
`app` and a write key. Then two gunicorns as in production (docker-compose.yml's `ingest`
and `web`: sync workers, DEBUG off, `--no-control-socket` when the installed gunicorn has
it), each on a free loopback port, and locust headless (scripts/load_locustfile.py):
first BASELINE_SECONDS of the explorer alone, then LOAD_DURATION seconds in which
IngestUsers post 500-message batches to the ingest server at LOAD_RATE events/s in all and
ExplorerUsers (logged in) open explorer pages on the web server. Each server's workers'
RSS is sampled every 2 seconds.

Prints one PASS/FAIL line per check with its figures and exits 1 when: any request failed
or a batch was not accepted whole; the events stored for `load`/`app` (SQL on
ingestion_event) differ from the messages sent, or a messageId is stored twice; either
server's workers' RSS grew by more than LOAD_MAX_RSS_GROWTH between the first and the last
minute; the sustained rate is under 95% of LOAD_RATE; the explorer's p95 at the client
during ingestion is EXPLORER_P95_TARGET_MS (150 ms) or more. The explorer's p95 alone
(the baseline) and the batches' p95 are reported, not checked.

Settings (environment): LOAD_DURATION (s, default 300), LOAD_RATE (events/s, default
DEFAULT_RATE), LOAD_BATCH (500), LOAD_INGEST_USERS (4), LOAD_EXPLORER_USERS (2),
LOAD_EXPLORER_RATE (pages/s per explorer user, 1), LOAD_INGEST_WORKERS (2),
LOAD_WEB_WORKERS (2), LOAD_MAX_RSS_GROWTH (0.20), LOAD_DATABASE_URL (instead of
`<name>_load`), LOAD_KEEP_DATABASE, LOAD_GUNICORN_ARGS (added to both gunicorns', e.g.
"--threads 4", to try other settings than production's).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prod_smoke import (  # noqa: E402  (a sibling script, not a package)
    BASE_DIR,
    PYTHON,
    Deadline,
    Service,
    SmokeError,
    child_env,
    free_port,
    gunicorn_command,
    gunicorn_supports,
    run_step,
    start,
    stop_all,
    wait_for_http,
)

RssSample = tuple[float, int, int]  # (seconds since the sampler started, total kB, workers)

DEFAULT_RATE = 2000  # events/s: sustained on a busy 2-core machine (docs/benchmarks.md, "Load")
EXPLORER_P95_TARGET_MS = 150
MIN_RATE_SHARE = 0.95
RSS_SAMPLE_SECONDS = 2.0
BASELINE_SECONDS = 20  # the explorer alone first: its p95 without ingestion, same machine
SETUP_SECONDS = 600  # migrate, collectstatic, seed_demo on a fresh database
ORG_SLUG, PRODUCT_KEY = "load", "app"


def env_number(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        sys.exit(f"load: {name}={value!r} is not a number")
    if number <= 0:
        sys.exit(f"load: {name} must be positive")
    return number


@dataclass
class Settings:
    duration: int = field(default_factory=lambda: int(env_number("LOAD_DURATION", 300)))
    rate: float = field(default_factory=lambda: env_number("LOAD_RATE", DEFAULT_RATE))
    batch: int = field(default_factory=lambda: int(env_number("LOAD_BATCH", 500)))
    ingest_users: int = field(default_factory=lambda: int(env_number("LOAD_INGEST_USERS", 4)))
    explorer_users: int = field(default_factory=lambda: int(env_number("LOAD_EXPLORER_USERS", 2)))
    max_rss_growth: float = field(default_factory=lambda: env_number("LOAD_MAX_RSS_GROWTH", 0.20))
    ingest_workers: int = field(default_factory=lambda: int(env_number("LOAD_INGEST_WORKERS", 2)))
    web_workers: int = field(default_factory=lambda: int(env_number("LOAD_WEB_WORKERS", 2)))


def scratch_url(database_url: str) -> str:
    if os.environ.get("LOAD_DATABASE_URL"):
        return os.environ["LOAD_DATABASE_URL"]
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/") or "postgres"
    return urlunsplit(parts._replace(path=f"/{name}_load"))


def database_recreate(*, url: str, drop_only: bool = False) -> None:
    """Drops (and creates) the database of `url`, connected to the server's `postgres`."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            connection.execute(f'CREATE DATABASE "{name}"')


def manage(args: list[str], *, env: dict[str, str], deadline: Deadline) -> str:
    """Runs manage.py; returns its stdout (run_step keeps only "ok")."""
    done = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=deadline.left(SETUP_SECONDS),
    )
    if done.returncode != 0:
        raise SmokeError(f"manage.py {' '.join(args)} exited {done.returncode}\n{done.stderr}")
    return done.stdout


def setup(env: dict[str, str], *, deadline: Deadline, log_dir: Path) -> str:
    """The scratch database's schema and data; returns the load product's write key."""
    for step in (["migrate", "--noinput"], ["collectstatic", "--noinput", "-v0"]):
        run_step(["manage.py", *step], env=env, timeout=deadline.left(SETUP_SECONDS))
    started = time.monotonic()
    manage(["seed_demo"], env=env, deadline=deadline)
    print(f"load: demo organization seeded in {time.monotonic() - started:.0f}s")
    config = log_dir / "load_config.json"
    config.write_text(
        json.dumps(
            {
                "organization": {"name": "Load", "slug": ORG_SLUG, "timezone": "UTC"},
                "product": {"name": "App", "key": PRODUCT_KEY},
                "features": [],
            }
        )
    )
    manage(["import_config", str(config)], env=env, deadline=deadline)
    output = manage(
        ["create_write_key", "--org", ORG_SLUG, "--product", PRODUCT_KEY, "--label", "load"],
        env=env,
        deadline=deadline,
    )
    return output.strip().splitlines()[-1]


class RssSampler(threading.Thread):
    """Every RSS_SAMPLE_SECONDS: the summed VmRSS (kB) of the gunicorn master's children."""

    def __init__(self, master_pid: int) -> None:
        super().__init__(daemon=True)
        self.master_pid = master_pid
        self.samples: list[RssSample] = []
        self.started = time.monotonic()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(RSS_SAMPLE_SECONDS):
            workers = worker_pids(self.master_pid)
            total = sum(rss_kb(pid) for pid in workers)
            self.samples.append((time.monotonic() - self.started, total, len(workers)))


@dataclass(frozen=True)
class MemoryGrowth:
    first_kb: int  # peak of the first window
    last_kb: int  # peak of the last window
    window: float  # seconds

    @property
    def growth(self) -> float:
        return (self.last_kb - self.first_kb) / self.first_kb if self.first_kb else float("inf")


def memory_growth(samples: list[RssSample], *, load_seconds: float) -> MemoryGrowth:
    """Peak RSS in the first and in the last minute of the load (a third of a short run).
    Peaks, not means: a worker's RSS steps up with the largest request it has served."""
    window = min(60.0, load_seconds / 3)

    def peak(start: float, end: float) -> int:
        values = [kb for at, kb, _ in samples if start <= at < end]
        return max(values) if values else 0

    return MemoryGrowth(
        first_kb=peak(0, window),
        last_kb=peak(load_seconds - window, load_seconds + RSS_SAMPLE_SECONDS),
        window=window,
    )


def worker_pids(master_pid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command may hold spaces and parentheses: fields follow the last ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == master_pid:
            pids.append(int(entry.name))
    return pids


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Stored:
    events: int  # stored for the load organization's product
    distinct: int  # distinct messageIds among them
    unanswered: list[int]  # stored of each batch that got no answer (cut by the run's end)


def stored_counts(url: str, *, unanswered: list[list[str]]) -> Stored:
    with psycopg.connect(url) as connection:
        (org_id,) = connection.execute(
            "SELECT id FROM tenancy_organization WHERE slug = %s", [ORG_SLUG]
        ).fetchone()
        # Row-level security (tenancy 0002) holds for a table owner too: name the tenant.
        connection.execute("SELECT set_config('vitals.organization_id', %s, false)", [str(org_id)])
        (product_id,) = connection.execute(
            "SELECT id FROM tenancy_product WHERE organization_id = %s AND key = %s",
            [org_id, PRODUCT_KEY],
        ).fetchone()
        events, distinct = connection.execute(
            "SELECT count(*), count(DISTINCT message_id) FROM ingestion_event"
            " WHERE product_id = %s",
            [product_id],
        ).fetchone()
        cut = [
            connection.execute(
                "SELECT count(*) FROM ingestion_event WHERE product_id = %s"
                " AND message_id BETWEEN %s AND %s",
                [product_id, first, last],
            ).fetchone()[0]
            for first, last in unanswered
        ]
    return Stored(events=int(events), distinct=int(distinct), unanswered=cut)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run_locust(
    settings: Settings,
    *,
    urls: dict[str, str],
    write_key: str,
    log_dir: Path,
    name: str,
    seconds: int,
    explorer_only: bool = False,
) -> tuple[dict, str]:
    """One headless locust run; `explorer_only` runs the ExplorerUsers alone. IngestUsers
    post to the ingest server, ExplorerUsers browse the web server (no --host: it would
    send both to one)."""
    summary_path = log_dir / f"{name}.json"
    env = {
        **os.environ,
        "LOAD_INGEST_HOST": urls["ingest"],
        "LOAD_WEB_HOST": urls["web"],
        "LOAD_RATE": str(settings.rate),
        "LOAD_BATCH": str(settings.batch),
        "LOAD_INGEST_USERS": str(settings.ingest_users),
        "LOAD_EXPLORER_USERS": str(settings.explorer_users),
        "LOAD_WRITE_KEY": write_key,
        "LOAD_SUMMARY": str(summary_path),
        "LOAD_RUN_ID": f"{name}-{int(time.time())}",
    }
    users = settings.explorer_users + (0 if explorer_only else settings.ingest_users)
    command = [
        PYTHON, "-m", "locust",
        "-f", str(BASE_DIR / "scripts" / "load_locustfile.py"),
        "--headless",
        "--users", str(users), "--spawn-rate", str(users),
        "--run-time", f"{seconds}s",
        "--stop-timeout", "60",  # users finish the request in flight: counts stay exact
        "--csv", str(log_dir / name),
        "--only-summary", "--loglevel", "WARNING",
        *(["ExplorerUser"] if explorer_only else []),
    ]  # fmt: skip
    done = subprocess.run(
        command,
        cwd=BASE_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=seconds + 180,
    )
    if not summary_path.exists():
        raise SmokeError(f"locust exited {done.returncode} without a summary\n{done.stderr}")
    return json.loads(summary_path.read_text()), done.stdout + done.stderr


def report(
    settings: Settings,
    *,
    summary: dict,
    baseline: dict,
    stored: Stored,
    samplers: dict[str, RssSampler],
    load_seconds: float,
    loads: list[tuple[float, float, float]],
) -> list[str]:
    """Prints the figures; returns the failed checks."""
    failed = []
    sent, accepted = summary["messages_sent"], summary["accepted"]
    rate = accepted / load_seconds
    buckets = summary["accepted_per_bucket"]
    full = [count / 10 for key, count in buckets.items() if (int(key) + 1) * 10 <= load_seconds]
    explorer = summary["explorer_ms"]
    p50, p95 = percentile(explorer, 0.50), percentile(explorer, 0.95)
    batch_p95 = percentile(summary["batch_ms"], 0.95)

    def line(name: str, value: str, target: str, ok: bool | None) -> None:
        verdict = {True: "PASS", False: "FAIL", None: "INFO"}[ok]
        print(f"{verdict:4}  {name:34} {value:44} {target}")
        if ok is False:
            failed.append(name)

    print(f"\nload: {load_seconds:.0f}s at a target of {settings.rate:.0f} events/s, "
          f"{settings.batch}-message batches, {settings.ingest_users} ingest users, "
          f"{settings.explorer_users} explorer users; gunicorn ingest {settings.ingest_workers} "
          f"and web {settings.web_workers} sync workers")  # fmt: skip
    loads_text = ", ".join(f"{a:.1f}/{b:.1f}/{c:.1f}" for a, b, c in loads)
    print(f"load: machine load average (1/5/15 min) at start, middle, end: {loads_text}")
    rates = f" (10 s windows {min(full):.0f}-{max(full):.0f})" if full else ""
    line(
        "events/s sustained",
        f"{rate:.0f}{rates}",
        f">= {MIN_RATE_SHARE:.0%} of {settings.rate:.0f}",
        rate >= MIN_RATE_SHARE * settings.rate,
    )
    line(
        "errors",
        f"{summary['error_count']} ({summary['locust_failures']} failed requests "
        f"of {summary['locust_requests']})",
        "0",
        summary["error_count"] == 0 and summary["locust_failures"] == 0,
    )
    for text in summary["errors"][:10]:
        print(f"        {text}")
    # A batch cut by the end of the run (its user stopped mid-request, at most one per
    # user) has no answer: it must be stored wholly or not at all, never in part.
    cut = stored.unanswered
    cut_text = f" ({len(cut)} cut by the end, stored {cut} of {settings.batch})" if cut else ""
    line(
        "messages stored once",
        f"sent {sent}{cut_text}, accepted {accepted}, stored {stored.events}, "
        f"distinct {stored.distinct}",
        "stored = distinct = accepted",
        stored.events == stored.distinct == accepted + sum(cut)
        and sent == accepted + settings.batch * len(cut)
        and len(cut) <= settings.ingest_users
        and all(count in (0, settings.batch) for count in cut),
    )
    for name, sampler in samplers.items():
        memory = memory_growth(sampler.samples, load_seconds=load_seconds)
        line(
            f"{name} workers' RSS",
            f"{memory.first_kb / 1024:.0f} MB -> {memory.last_kb / 1024:.0f} MB "
            f"({memory.growth:+.1%})",
            f"growth < {settings.max_rss_growth:.0%} (peak, first vs last {memory.window:.0f} s)",
            memory.growth < settings.max_rss_growth,
        )
    line(
        "explorer p95 during ingestion",
        f"{p95:.0f} ms (p50 {p50:.0f} ms, {len(explorer)} requests, client side)",
        f"< {EXPLORER_P95_TARGET_MS} ms",
        p95 < EXPLORER_P95_TARGET_MS,  # NaN (no request) fails too
    )
    idle = baseline["explorer_ms"]
    line(
        "explorer p95, no ingestion",
        f"{percentile(idle, 0.95):.0f} ms (p50 {percentile(idle, 0.50):.0f} ms, "
        f"{len(idle)} requests, {BASELINE_SECONDS} s before the load)",
        "-",
        None,
    )
    line("batch p95", f"{batch_p95:.0f} ms ({summary['batches']} batches)", "-", None)
    return failed


def _raise_on_term(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    if not os.environ.get("DATABASE_URL"):
        sys.exit(
            "load: DATABASE_URL must be set (the load runs on a scratch database beside it), "
            "e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres make load"
        )
    signal.signal(signal.SIGTERM, _raise_on_term)
    settings = Settings()
    url = scratch_url(os.environ["DATABASE_URL"])
    env = child_env()
    env["DATABASE_URL"] = url
    # One key sends the whole load: its per-minute limit must not be what is measured.
    env["INGEST_RATE_LIMIT_PER_MINUTE"] = str(int(max(60_000, settings.rate * 60 * 2)))
    deadline = Deadline(SETUP_SECONDS + BASELINE_SECONDS + settings.duration + 300)
    services: list[Service] = []
    failed = ["setup"]
    with tempfile.TemporaryDirectory(prefix="vitals-load-") as tmp:
        log_dir = Path(tmp)
        try:
            print(f"load: scratch database {urlsplit(url).path.lstrip('/')}")
            database_recreate(url=url)
            write_key = setup(env, deadline=deadline, log_dir=log_dir)
            # As docker-compose.yml: SDKs post to `ingest`, people browse `web`, each its
            # own gunicorn, so that a page never waits behind a batch in a sync worker.
            no_control_socket = gunicorn_supports("--no-control-socket")
            extra = os.environ.get("LOAD_GUNICORN_ARGS", "").split()  # experiments
            urls: dict[str, str] = {}
            for name, workers in (
                ("ingest", settings.ingest_workers),
                ("web", settings.web_workers),
            ):
                port = free_port()
                urls[name] = f"http://127.0.0.1:{port}"
                command = gunicorn_command(
                    port=port, workers=workers, no_control_socket=no_control_socket, extra=extra
                )
                services.append(start(name, command, env=env, log_dir=log_dir))
            for service in services:
                healthz = f"{urls[service.name]}/healthz"
                wait_for_http(healthz, service, deadline=deadline, cap=60)
            print(f"load: ingest on {urls['ingest']}, web on {urls['web']}")
            print(f"load: {BASELINE_SECONDS}s of explorer alone ...", flush=True)
            baseline, _ = run_locust(
                settings,
                urls=urls,
                write_key=write_key,
                log_dir=log_dir,
                name="baseline",
                seconds=BASELINE_SECONDS,
                explorer_only=True,
            )
            print(f"load: {settings.duration}s of load ...", flush=True)
            samplers = {service.name: RssSampler(service.process.pid) for service in services}
            for sampler in samplers.values():
                sampler.start()
            loads = [os.getloadavg()]
            middle = threading.Timer(settings.duration / 2, lambda: loads.append(os.getloadavg()))
            middle.start()
            started = time.monotonic()
            summary, locust_output = run_locust(
                settings,
                urls=urls,
                write_key=write_key,
                log_dir=log_dir,
                name="load",
                seconds=settings.duration,
            )
            load_seconds = summary["seconds"] or time.monotonic() - started
            loads.append(os.getloadavg())
            for sampler in samplers.values():
                sampler.stopping.set()
            middle.cancel()
            stop_all(services)
            failed = report(
                settings,
                summary=summary,
                baseline=baseline,
                stored=stored_counts(url, unanswered=summary["unanswered"]),
                samplers=samplers,
                load_seconds=load_seconds,
                loads=loads,
            )
            if failed:
                print(locust_output[-4000:])
                for service in services:
                    print(f"----- {service.name} log -----\n{service.log()[-4000:]}")
            services.clear()
        except (SmokeError, subprocess.TimeoutExpired, psycopg.Error) as exc:
            print(f"load: FAILED: {exc}")
            for service in services:
                print(f"----- {service.name} log -----\n{service.log()[-4000:]}")
        finally:
            stop_all(services)
            if not os.environ.get("LOAD_KEEP_DATABASE"):
                try:
                    database_recreate(url=url, drop_only=True)
                except psycopg.Error as exc:
                    print(f"load: could not drop the scratch database: {exc}")
    if failed:
        print(f"load FAILED: {', '.join(failed)}")
        return 1
    print("load passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
