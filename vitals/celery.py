"""The Celery app. Every beat schedule lives in vitals/schedules.py."""

from __future__ import annotations

import os

from celery import Celery

from vitals.schedules import beat_schedule

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vitals.settings")

app = Celery("vitals")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.conf.beat_schedule = beat_schedule()


@app.task(name="vitals.ping")
def ping() -> str:
    """Round-trip probe used by `make prod-smoke` and the broker health check."""
    return "pong"
