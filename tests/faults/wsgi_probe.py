"""The app exactly as gunicorn serves it, plus two switches a fault test flips with files
in FAULT_DIR, so that it knows which worker to kill and when. Each switch is taken by the
one /v1/batch request whose worker removes its file first.

- `note-pid`: the request first writes its worker's pid to `handling.pid`.
- `stall-after-response`: once the app has answered (its transaction is committed) the
  worker writes `stalled.pid` and hangs before sending a byte, until it is killed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from vitals.wsgi import application as vitals_application

FAULT_DIR = Path(os.environ["FAULT_DIR"])


def _take(switch: str) -> bool:
    try:
        (FAULT_DIR / switch).unlink()
    except FileNotFoundError:
        return False
    return True


def _write_pid(name: str) -> None:
    partial = FAULT_DIR / f"{name}.partial"
    partial.write_text(str(os.getpid()))
    partial.rename(FAULT_DIR / name)  # atomic: the test never reads half a pid


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("PATH_INFO") != "/v1/batch":
        return vitals_application(environ, start_response)
    if _take("note-pid"):
        _write_pid("handling.pid")
    if not _take("stall-after-response"):
        return vitals_application(environ, start_response)
    vitals_application(environ, start_response).close()  # the request's work is done
    _write_pid("stalled.pid")
    while True:  # gunicorn has not written the response yet; the test kills us here
        time.sleep(1)
