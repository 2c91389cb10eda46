"""Every Celery beat schedule, in one place.

Entries name a task by its registered name and say when it runs; the task itself loads
what it needs by id and calls a service.
"""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Queues each product's run of local yesterday once its organization's clock passes
    # 00:05; idempotent, so every five minutes covers every time zone (and :30/:45 offsets).
    "health-runs-due": {
        "task": "health.schedule_due",
        "schedule": crontab(minute="*/5"),
        # A check nobody picked up before the next one is worth nothing.
        "options": {"expires": 4 * 60},
    },
    # Re-sends runs the queue lost and replaces runs whose worker died.
    "health-runs-sweep": {
        "task": "health.sweep",
        "schedule": crontab(minute="*/10"),
        "options": {"expires": 9 * 60},
    },
}


def beat_schedule() -> dict[str, dict[str, Any]]:
    """The schedule for `app.conf.beat_schedule`: a copy, so Celery never edits ours."""
    return {name: dict(entry) for name, entry in BEAT_SCHEDULE.items()}
