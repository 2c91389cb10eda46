"""Every Celery beat schedule, in one place.

Entries name a task by its registered name and say when it runs; the task itself loads
what it needs by id and calls a service. Example entry, for when the first one lands:

    "health-compute-nightly": {
        "task": "health.compute_all",
        "schedule": crontab(hour=2, minute=15),
    },
"""

from __future__ import annotations

from typing import Any

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {}


def beat_schedule() -> dict[str, dict[str, Any]]:
    """The schedule for `app.conf.beat_schedule`: a copy, so Celery never edits ours."""
    return {name: dict(entry) for name, entry in BEAT_SCHEDULE.items()}
