"""Celery beat for the fault tests: the real schedule of vitals/schedules.py with every
entry due every two seconds, so a real beat process ticks within a test's time.

    celery -A tests.faults.fast_beat beat
"""

from __future__ import annotations

from vitals.celery import app
from vitals.schedules import beat_schedule

TICK_SECONDS = 2.0

app.conf.beat_schedule = {
    name: {**entry, "schedule": TICK_SECONDS} for name, entry in beat_schedule().items()
}

__all__ = ["app"]
