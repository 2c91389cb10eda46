#!/usr/bin/env python
"""Proves `make demo` works as on a fresh machine: no DATABASE_URL/REDIS_URL, so the
embedded PostgreSQL is used; waits for the server, logs in through the real login form as
the printed demo admin and opens the Accounts Explorer. Always stops the server."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = int(os.environ.get("DEMO_SMOKE_PORT", "8765"))
BASE = f"http://127.0.0.1:{PORT}"
TIMEOUT = int(os.environ.get("DEMO_SMOKE_TIMEOUT", "420"))


def main() -> int:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["PORT"] = str(PORT)
    log_path = ROOT / "var" / "demo_smoke.log"
    log_path.parent.mkdir(exist_ok=True)
    started = time.monotonic()
    with log_path.open("w") as log:
        server = subprocess.Popen(
            ["make", "demo", f"PORT={PORT}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"make demo exited with {server.returncode}")
            if time.monotonic() - started > TIMEOUT:
                raise RuntimeError(f"not serving after {TIMEOUT}s")
            try:
                page = opener.open(f"{BASE}/login/", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(2)
        print(f"demo-smoke: serving after {time.monotonic() - started:.0f}s")
        output = log_path.read_text()
        login = re.search(r"(\S+@\S+)\s*/\s*(\S+)\s*\(admin\)", output)
        email, password = login.groups() if login else ("admin@demo.test", "vitals-demo")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode(
            {"username": email, "password": password, "csrfmiddlewaretoken": token}
        ).encode()
        request = urllib.request.Request(
            f"{BASE}/login/", data=form, headers={"Referer": f"{BASE}/login/"}
        )
        landing = opener.open(request, timeout=30)
        body = landing.read().decode()
        if "/o/" not in landing.geturl() or "Accounts Explorer" not in body:
            raise RuntimeError(f"login did not reach the explorer: {landing.geturl()}")
        print(f"demo-smoke: PASS logged in as {email}, landed on {landing.geturl()}")
        return 0
    except Exception as exc:  # noqa: BLE001 - report any failure with the server log
        print(f"demo-smoke: FAIL {exc}\n--- make demo output ---\n{log_path.read_text()[-4000:]}")
        return 1
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(server.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
