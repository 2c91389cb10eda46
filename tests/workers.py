"""Helpers for tests that run a real Celery worker as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
from urllib.parse import urlsplit, urlunsplit


def redis_url_for_db(db: int) -> str:
    """REDIS_URL (or the local default) pointed at a database of the test's own."""
    parts = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    return urlunsplit(parts._replace(path=f"/{db}"))


def stop_process_group(process: subprocess.Popen[bytes], *, grace: float = 10) -> None:
    """SIGTERM the worker's process group (it has a pool child), SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            # The leader is gone; a pool child it left behind goes with the group.
            os.killpg(process.pid, signal.SIGKILL)
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            pass
        return
