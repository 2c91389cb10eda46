"""Prove the production topology with real processes: gunicorn, a Celery worker and beat.

Usage: DATABASE_URL=postgres://... REDIS_URL=redis://... python scripts/prod_smoke.py

As in production, the processes log in as the application's login role and migrations
run as the owner. With DATABASE_OWNER_URL set, DATABASE_URL is that login role already;
without it, DATABASE_URL is the owner and the run makes a login role for its database
(`create_app_login vitals_login_<database>`, a fresh random password) and uses it.

Runs migrate (as the owner) and collectstatic, starts the three processes with DEBUG
unset, checks the web pages, a static file, a task round-trip through Redis, that beat
stays up, that the server's login role has no power over the schema and cannot become the
owner, and that login, the explorer, ingestion, API tokens and a health run work as it
(scripts/smoke_login_role.py); then stops everything it started. Prints one PASS/FAIL line
per check; exits 1 on any failure and prints the processes' logs. The whole run is
bounded (under three minutes).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import smoke_login_role as login_role  # noqa: E402

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BUDGET_SECONDS = 150  # checks; with stopping, the run stays under three minutes
STOP_SECONDS = 10  # SIGTERM grace per process group before SIGKILL
LOG_TAIL_LINES = 80


class SmokeError(Exception):
    """A check failed; the message says what was seen."""


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]
    started_at: float = field(default_factory=time.monotonic)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def is_running(self) -> bool:
        return self.process.poll() is None


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self, cap: float) -> float:
        """At most `cap` seconds, never past the run's end; raises once time is up."""
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise SmokeError("the smoke run's time budget is used up")
        return min(cap, remaining)


def child_env() -> dict[str, str]:
    """Production-like: DEBUG unset, real broker, hosts that the checks use."""
    env = dict(os.environ)
    env.pop("DEBUG", None)
    env["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    env["CELERY_TASK_ALWAYS_EAGER"] = "0"
    env["DJANGO_SETTINGS_MODULE"] = "vitals.settings"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_step(args: list[str], *, env: dict[str, str], timeout: float) -> str:
    _run(args, env=env, timeout=timeout)
    return "ok"


def _run(args: list[str], *, env: dict[str, str], timeout: float) -> str:
    try:
        done = subprocess.run(
            [PYTHON, *args],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise SmokeError(f"`{' '.join(args)}` did not finish in {timeout:.0f}s") from exc
    if done.returncode != 0:
        raise SmokeError(
            f"`{' '.join(args)}` exited {done.returncode}\n{done.stdout}{done.stderr}".rstrip()
        )
    return done.stdout


def start(name: str, args: list[str], *, env: dict[str, str], log_dir: Path) -> Service:
    log_path = log_dir / f"{name}.log"
    log_file = log_path.open("wb")
    # A session of its own, so stopping the service also stops its workers and children.
    process = subprocess.Popen(
        [PYTHON, *args],
        cwd=BASE_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Service(name=name, process=process, log_path=log_path, log_file=log_file)


def stop_all(services: list[Service]) -> None:
    """SIGTERM every group, wait up to STOP_SECONDS, then SIGKILL what is left."""
    for service in services:
        _signal_group(service, signal.SIGTERM)
    grace_end = time.monotonic() + STOP_SECONDS
    for service in services:
        try:
            service.process.wait(timeout=max(0.1, grace_end - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{service.name} ignored SIGTERM for {STOP_SECONDS}s; sending SIGKILL")
        # Children (gunicorn workers, celery pool) may outlive the leader: kill the group.
        _signal_group(service, signal.SIGKILL)
        try:
            service.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            print(f"{service.name} (pid {service.process.pid}) survived SIGKILL")
        service.log_file.close()


def _signal_group(service: Service, sig: signal.Signals) -> None:
    try:
        os.killpg(service.process.pid, sig)
    except ProcessLookupError:
        pass


def http_get(url: str, *, timeout: float = 10) -> tuple[int, str, bytes]:
    """(status, content type, body); HTTP errors are answers too, not exceptions."""
    request = urllib.request.Request(url, headers={"User-Agent": "vitals-prod-smoke"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def wait_for_http(url: str, web: Service, *, deadline: Deadline, cap: float) -> str:
    end = time.monotonic() + deadline.left(cap)
    last_error = "no answer yet"
    while time.monotonic() < end:
        if not web.is_running():
            raise SmokeError(f"gunicorn exited with {web.process.returncode} before answering")
        try:
            http_get(url, timeout=2)
            return f"answering on {url}"
        except OSError as exc:
            last_error = str(exc)
        time.sleep(0.5)
    raise SmokeError(f"gunicorn did not answer {url} within {cap:.0f}s ({last_error})")


def check_healthz(base_url: str) -> str:
    status, content_type, body = http_get(f"{base_url}/healthz")
    if status != 200:
        raise SmokeError(f"status {status}: {body[:300]!r}")
    if "application/json" not in content_type:
        raise SmokeError(f"content type {content_type!r}, expected JSON")
    payload = json.loads(body)
    if payload.get("status") != "ok":
        raise SmokeError(f"body {payload!r}, expected status ok")
    return "200 {'status': 'ok'}"


def gunicorn_supports(flag: str) -> bool:
    """Whether the installed gunicorn knows `flag` (its --help lists it)."""
    done = subprocess.run(
        [PYTHON, "-m", "gunicorn", "--help"],
        cwd=BASE_DIR,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return flag in done.stdout.split()


def gunicorn_command(
    *, port: int, workers: int, no_control_socket: bool, extra: list[str]
) -> list[str]:
    """gunicorn as in production (sync workers) on a loopback port."""
    command = f"-m gunicorn vitals.wsgi:application -b 127.0.0.1:{port} -w {workers}".split()
    command += "--timeout 30 --graceful-timeout 5".split()
    # Newer gunicorn (27 here) opens a control socket at one default path: two would collide.
    if no_control_socket:
        command.append("--no-control-socket")
    return command + extra


def check_login(base_url: str) -> str:
    status, _content_type, body = http_get(f"{base_url}/login/")
    html = body.decode("utf-8", errors="replace")
    if status != 200:
        raise SmokeError(f"status {status}: {html[:300]!r}")
    missing = [
        marker
        for marker in ("<form", 'name="username"', 'name="password"', "csrfmiddlewaretoken")
        if marker not in html
    ]
    if missing:
        raise SmokeError(f"login page lacks {missing}")
    return "200 with the login form"


def check_static(base_url: str) -> str:
    _status, _content_type, body = http_get(f"{base_url}/login/")
    html = body.decode("utf-8", errors="replace")
    assets = re.findall(r"""(?:href|src)=["'](/static/[^"'?#]+)""", html)
    if not assets:
        raise SmokeError("the login page references no /static/ asset")
    status, _content_type, asset_body = http_get(f"{base_url}{assets[0]}")
    if status != 200 or not asset_body:
        raise SmokeError(f"{assets[0]} answered {status} with {len(asset_body)} bytes")
    return f"200 {assets[0]} ({len(asset_body)} bytes)"


def check_ping(*, deadline: Deadline) -> str:
    # The env of this process was set like the children's before Django settings load.
    sys.path.insert(0, str(BASE_DIR))
    from vitals.celery import app as celery_app

    if celery_app.conf.task_always_eager:
        raise SmokeError("CELERY_TASK_ALWAYS_EAGER is on; the task would never reach Redis")
    broker = _redact(str(celery_app.conf.broker_url))
    try:
        result = celery_app.send_task("vitals.ping")
        value = result.get(timeout=deadline.left(30))
        result.forget()
    except Exception as exc:
        raise SmokeError(f"no answer through {broker}: {' '.join(str(exc).split())}") from exc
    if value != "pong":
        raise SmokeError(f"vitals.ping returned {value!r}, expected 'pong'")
    return f"'pong' via {broker}"


def check_beat(beat: Service, *, deadline: Deadline) -> str:
    # Give beat a few seconds of life before judging it: a bad config kills it at start.
    alive_for = 5.0
    time.sleep(max(0.0, min(alive_for - (time.monotonic() - beat.started_at), deadline.left(5))))
    if not beat.is_running():
        raise SmokeError(f"beat exited with {beat.process.returncode}")
    if "beat: Starting" not in beat.log():
        raise SmokeError("beat is running but its log never said 'beat: Starting...'")
    return f"running after {time.monotonic() - beat.started_at:.0f}s, log says started"


def _redact(url: str) -> str:
    return re.sub(r"//[^@/]*@", "//***@", url)


def require_env() -> None:
    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
    if missing:
        sys.exit(
            f"prod_smoke: {' and '.join(missing)} must be set: this proves the production "
            "topology against a real PostgreSQL and Redis, e.g.\n"
            "  DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres "
            "REDIS_URL=redis://127.0.0.1:6379/0 make prod-smoke"
        )


def _raise_on_term(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def run_checks(
    check: Callable[[str, Callable[[], str]], bool],
    services: list[Service],
    *,
    env: dict[str, str],
    log_dir: Path,
    deadline: Deadline,
) -> None:
    """Set up, start the three processes into `services` (the caller stops them), check."""
    owner_url = env["DATABASE_OWNER_URL"]
    migrate = ["manage.py", "migrate", "--noinput"]
    if not check("migrate", lambda: run_step(migrate, env=env, timeout=deadline.left(60))):
        return
    collect = ["manage.py", "collectstatic", "--noinput"]
    if not check("collectstatic", lambda: run_step(collect, env=env, timeout=deadline.left(40))):
        return
    tenant = login_role.Tenant(
        slug=f"smoke-{os.getpid()}-{int(time.time())}",
        username="",
        password=secrets.token_urlsafe(16),
        write_key="",
        token="",
    )
    shell_env = {**env, "SMOKE_SLUG": tenant.slug, "SMOKE_PASSWORD": tenant.password}

    def set_up_tenant() -> str:
        shell = ["manage.py", "shell", "-c", login_role.SETUP]
        out = _run(shell, env=shell_env, timeout=deadline.left(40))
        made = json.loads(out.strip().splitlines()[-1])
        tenant.username, tenant.write_key, tenant.token = (
            made["username"],
            made["write_key"],
            made["token"],
        )
        return f"organization {tenant.slug}, admin, product, write key, API token"

    if not check("tenant set up as the login role", set_up_tenant):
        return

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    gunicorn = gunicorn_command(
        port=port, workers=2, no_control_socket=False, extra=["--access-logfile", "-"]
    )
    worker = "-m celery -A vitals worker -l info --concurrency 1".split()
    worker += ["-n", f"smoke-{os.getpid()}@%h"]
    beat = "-m celery -A vitals beat -l info".split()
    beat += ["-s", str(log_dir / "celerybeat-schedule")]
    web_env = {**env, "DATABASE_URL": env["SMOKE_WEB_DATABASE_URL"]}
    web_service = start("gunicorn", gunicorn, env=web_env, log_dir=log_dir)
    services.append(web_service)
    services.append(start("worker", worker, env=env, log_dir=log_dir))
    beat_service = start("beat", beat, env=env, log_dir=log_dir)
    services.append(beat_service)

    healthz_url = f"{base_url}/healthz"
    if check(
        "gunicorn up",
        lambda: wait_for_http(healthz_url, web_service, deadline=deadline, cap=60),
    ):
        check("GET /healthz", lambda: check_healthz(base_url))
        check("GET /login/", lambda: check_login(base_url))
        check("static asset", lambda: check_static(base_url))
        check("login and explorer", lambda: login_role.check_login_and_explorer(base_url, tenant))
        check("ingestion", lambda: login_role.check_ingestion(base_url, tenant))
        check("API token", lambda: login_role.check_api_token(base_url, tenant))
        login = env["SMOKE_LOGIN_ROLE"]
        check("server login role", lambda: login_role.role_facts(owner_url, login))
        check(
            "login role cannot become the owner",
            lambda: login_role.cannot_become_owner(owner_url, env["DATABASE_URL"]),
        )
    check("celery ping", lambda: check_ping(deadline=deadline))

    def health_run() -> str:
        enqueue = ["manage.py", "shell", "-c", login_role.ENQUEUE]
        run_id = int(_run(enqueue, env=shell_env, timeout=deadline.left(40)).split()[-1])
        return login_role.wait_health_run(owner_url, run_id, seconds=deadline.left(40))

    check("health run by the worker", health_run)
    check("beat alive", lambda: check_beat(beat_service, deadline=deadline))


def login_role_env(env: dict[str, str], *, deadline: Deadline) -> dict[str, str]:
    """DATABASE_URL as the application's login role, DATABASE_OWNER_URL as the owner.
    Without DATABASE_OWNER_URL, DATABASE_URL is the owner: make a login role beside it."""
    env = dict(env)
    if env.get("DATABASE_OWNER_URL"):
        login_url = env["DATABASE_URL"]
        login = urlsplit(login_url).username or ""
    else:
        owner_url = env["DATABASE_URL"]
        login = login_role.login_role_name(owner_url)
        password = secrets.token_urlsafe(24)
        create = ["manage.py", "create_app_login", login, "--password-env", "SMOKE_LOGIN_PASSWORD"]
        _run(create, env={**env, "SMOKE_LOGIN_PASSWORD": password}, timeout=deadline.left(40))
        env["DATABASE_OWNER_URL"] = owner_url
        login_url = login_role.with_user(owner_url, login, password, login_role.WORKER_APP_NAME)
    env["DATABASE_URL"] = login_url
    env["SMOKE_LOGIN_ROLE"] = login
    env["SMOKE_WEB_DATABASE_URL"] = _with_application_name(login_url, login_role.WEB_APP_NAME)
    return env


def _with_application_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != "application_name"]
    query.append(("application_name", name))
    return urlunsplit(parts._replace(query=urlencode(query)))


def main() -> int:
    require_env()
    # SIGTERM (a CI timeout, say) must still run the finally that stops the children.
    signal.signal(signal.SIGTERM, _raise_on_term)
    env = child_env()
    # This process sends the ping, so its own settings must match the children's.
    os.environ.pop("DEBUG", None)
    os.environ.update(env)
    deadline = Deadline(BUDGET_SECONDS)
    results: list[tuple[str, bool, str]] = []
    services: list[Service] = []
    try:
        env = login_role_env(env, deadline=deadline)
    except SmokeError as exc:
        print(f"FAIL login role: {exc}")
        return 1
    os.environ.update(env)

    def check(name: str, func: Callable[[], str]) -> bool:
        try:
            deadline.left(0.1)
            detail = func()
        except Exception as exc:  # each check reports; the run goes on
            results.append((name, False, str(exc).strip() or repr(exc)))
            return False
        results.append((name, True, detail))
        return True

    with tempfile.TemporaryDirectory(prefix="vitals-smoke-") as tmp:
        try:
            run_checks(check, services, env=env, log_dir=Path(tmp), deadline=deadline)
        finally:
            stop_all(services)
            failed = [name for name, passed, _ in results if not passed]
            for name, passed, detail in results:
                print(f"{'PASS' if passed else 'FAIL'} {name}: {detail}")
            if failed:
                for service in services:
                    tail = service.log().splitlines()[-LOG_TAIL_LINES:]
                    print(f"\n----- {service.name} log (last {len(tail)} lines) -----")
                    print("\n".join(tail))
    if failed:
        print(f"prod-smoke FAILED: {', '.join(failed)}")
        return 1
    print(f"prod-smoke passed: {len(results)} checks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
