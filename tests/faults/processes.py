"""Real processes for the fault tests.

A private PostgreSQL cluster and a private Redis server that a test may stop, restart or
wipe (never the shared servers), and the app's own processes as production runs them:
gunicorn, Celery workers and Celery beat. Every wait polls with a generous deadline, so a
slow, loaded machine makes a test slower, not red.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psycopg
import redis

from tests.workers import stop_process_group

BASE_DIR = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
LOG_TAIL_CHARS = 6000


def wait_for(
    predicate: Callable[[], Any],
    seconds: float,
    what: str,
    *,
    details: Callable[[], str] | None = None,
    interval: float = 0.2,
) -> Any:
    """Poll until `predicate` returns something truthy (returned); fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{details()}" if details else ""
            raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}{extra}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(text: str) -> str:
    return text if len(text) <= LOG_TAIL_CHARS else "…" + text[-LOG_TAIL_CHARS:]


def postgres_bindir() -> Path:
    """PG_BINDIR, else the newest Debian server package's, else initdb on PATH."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("initdb not found: install the postgresql package or set PG_BINDIR")
    return Path(initdb).parent


class PrivatePostgres:
    """A throwaway cluster under /tmp on a port of its own, with trust authentication for
    `postgres`. initdb refuses to run as root, so as root it runs as the `postgres` user."""

    # Migrated once per session; each test's database is a copy.
    TEMPLATE = "vitals_faults_template"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.log_path = root / "postgres.log"
        self.port = free_port()
        self.bindir = postgres_bindir()

    def _run(self, program: str, *args: str, timeout: float = 120) -> None:
        argv = [str(self.bindir / program), *args]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        # From a directory the postgres user can enter (the checkout may be in /root).
        done = subprocess.run(
            argv,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{program} exited {done.returncode}:\n{done.stdout}{done.stderr}\n{self.log()}"
            )

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c max_connections=200"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-w", "-t", "90",
            "-o", options, "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "90", "stop")

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres", *, autocommit: bool = True) -> psycopg.Connection:
        return psycopg.connect(self.url(database), autocommit=autocommit, connect_timeout=10)

    def database_from(self, template: str = TEMPLATE) -> str:
        """A new database copied from the migrated template; its URL."""
        if not self.is_running():  # a restart test that failed half-way
            self.start()
        name = f"faults_{uuid.uuid4().hex[:12]}"
        self.create_database(name, template=template)
        return self.url(name)

    def create_database(self, name: str, *, template: str | None = None) -> None:
        with self.connect() as conn:
            suffix = f" TEMPLATE {template}" if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{suffix}')

    def log(self) -> str:
        try:
            return "postgres log:\n" + _tail(self.log_path.read_text(errors="replace"))
        except OSError:
            return "(no postgres log)"


class PrivateRedis:
    """A redis-server on a port of its own, without persistence: a restart comes back empty,
    as a wiped or replaced Redis does."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.log_path = root / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found: install the redis-server package")
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
                + ["--appendonly", "no", "--dir", str(self.root)],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self.ping, 30, "the private Redis to answer", details=self.log)

    def stop(self) -> None:
        """Redis goes away at once (SIGKILL), as a crashed or unreachable one does."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self.process = None

    def ping(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url(), socket_timeout=5, socket_connect_timeout=5)

    def log(self) -> str:
        try:
            return "redis log:\n" + _tail(self.log_path.read_text(errors="replace"))
        except OSError:
            return "(no redis log)"


@dataclass
class Service:
    """One process group the test started, with its combined output in a file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]
    # True once the service takes work (None: at once).
    ready: Callable[[], bool] | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def children(self) -> list[int]:
        """Direct children: gunicorn's workers, a Celery worker's pool processes."""
        pid = self.process.pid
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except OSError:
            return []
        return [int(child) for child in text.split()]


class Stack:
    """The app's processes of one test, on that test's database and (optionally) Redis.

    Stopped at teardown; their logs are shown when the test fails.
    """

    def __init__(self, tmp: Path, *, database_url: str) -> None:
        self.tmp = tmp
        self.services: list[Service] = []
        self.env = {key: value for key, value in os.environ.items() if key != "DEBUG"}
        self.env.update(
            {
                "DATABASE_URL": database_url,
                "DJANGO_SETTINGS_MODULE": "vitals.settings",
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "PYTHONUNBUFFERED": "1",
                "FAULT_DIR": str(tmp),
            }
        )
        # Without Redis, tasks run in-process (as in the demo).
        self.env.pop("REDIS_URL", None)
        self.env.pop("CELERY_TASK_ALWAYS_EAGER", None)

    def connect(self, *, autocommit: bool = True) -> psycopg.Connection:
        """A connection of the test's own to the stack's database."""
        return psycopg.connect(self.env["DATABASE_URL"], autocommit=autocommit, connect_timeout=10)

    def use_redis(self, url: str) -> None:
        self.env["REDIS_URL"] = url
        self.env["CELERY_TASK_ALWAYS_EAGER"] = "0"

    def start(self, name: str, args: list[str], **env: str) -> Service:
        log_path = self.tmp / f"{name}.log"
        log_file = log_path.open("wb")
        process = subprocess.Popen(
            [PYTHON, *args],
            cwd=BASE_DIR,
            env={**self.env, "PGAPPNAME": f"vitals-{name}", **env},
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        service = Service(name=name, process=process, log_path=log_path, log_file=log_file)
        self.services.append(service)
        return service

    def manage(self, *args: str, timeout: float = 180) -> str:
        """Run a management command to its end; its output, or a failure showing it."""
        done = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=BASE_DIR,
            env={**self.env, "PGAPPNAME": "vitals-manage"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise AssertionError(
                f"manage.py {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done.stdout

    def gunicorn(
        self,
        name: str = "web",
        *,
        app: str = "vitals.wsgi:application",
        workers: int = 2,
        wait: bool = True,
    ) -> tuple[Service, str]:
        """gunicorn with sync workers, as in production, and its base URL; ready once
        /healthz answers. The access log names each request's status, worker and retry."""
        port = free_port()
        service = self.start(
            name,
            ["-m", "gunicorn", app, "--workers", str(workers), "--bind", f"127.0.0.1:{port}"]
            + ["--timeout", "120", "--graceful-timeout", "5", "--access-logfile", "-"]
            + ["--access-logformat", ACCESS_LOG_FORMAT],
        )
        base_url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            if len(service.children()) != workers:
                return False
            try:
                with urllib.request.urlopen(f"{base_url}/healthz", timeout=5) as response:
                    return response.status == 200
            except (urllib.error.URLError, OSError):
                return False

        service.ready = ready
        if wait:
            self.wait_ready(service)
        return service, base_url

    def worker(self, name: str = "worker", *, concurrency: int = 1, wait: bool = True) -> Service:
        """A Celery worker (prefork pool); ready once it says so."""
        service = self.start(
            name,
            ["-m", "celery", "-A", "vitals", "worker", "--concurrency", str(concurrency)]
            + ["-l", "info", "-n", f"{name}@%h", "--without-gossip", "--without-mingle"],
        )
        service.ready = lambda: " ready." in service.log()
        if wait:
            self.wait_ready(service)
        return service

    def wait_ready(self, *services: Service) -> None:
        """Wait for services started with wait=False (started together, ready sooner)."""
        for service in services:
            if service.ready is None:
                continue
            check = service.ready

            def ready(service: Service = service, check: Callable[[], bool] = check) -> bool:
                assert service.alive(), f"{service.name} exited:\n{service.log()}"
                return check()

            wait_for(ready, 120, f"{service.name} to be ready", details=service.log)

    def beat(self, name: str = "beat") -> Service:
        """Celery beat with the real schedule, each entry due every few seconds."""
        return self.start(
            name,
            ["-m", "celery", "-A", "tests.faults.fast_beat", "beat", "-l", "info"]
            + ["-s", str(self.tmp / f"{name}-schedule")],
        )

    def stop_all(self) -> None:
        """SIGTERM every group at once, then SIGKILL what lingers (tests/workers.py)."""
        for service in self.services:
            try:
                os.killpg(service.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for service in reversed(self.services):
            stop_process_group(service.process, grace=10)
            service.log_file.close()

    def logs(self) -> str:
        return "\n".join(
            f"===== {service.name} (exit {service.process.poll()}) =====\n{_tail(service.log())}"
            for service in self.services
        )


# Status, request line, the worker's pid and the SDK's X-Retry-Count header.
ACCESS_LOG_FORMAT = 'access %(s)s "%(r)s" pid=%(p)s retry=%({x-retry-count}i)s'


def kill(pid: int) -> None:
    """SIGKILL, as the OOM killer does: no handler runs, no response is written."""
    os.kill(pid, signal.SIGKILL)
