"""Per-write-key rate limit for the tracking API: a fixed one-minute window in PostgreSQL.

One upsert per request on an UNLOGGED table (migration 0003). Redis is deliberately not
involved: ingestion has to keep working when Redis is down.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection

from vitals.tenancy.models import WriteKey

WINDOW = timedelta(minutes=1)
DEFAULT_LIMIT_PER_MINUTE = 60_000


def rate_limit_consume(*, write_key: WriteKey, messages: int, now: datetime) -> int:
    """Counts `messages` against the key's current minute.

    Returns 0 when the key is within its limit, else the seconds until the window ends
    (the Retry-After). The first request of each minute also stamps the key's
    last_used_at and drops its old windows, so both cost one statement a minute.
    """
    limit = getattr(settings, "INGEST_RATE_LIMIT_PER_MINUTE", DEFAULT_LIMIT_PER_MINUTE)
    window_start = now.replace(second=0, microsecond=0)
    with connection.cursor() as cursor:
        # xmax = 0 only on a freshly inserted row: this request opened the window.
        cursor.execute(
            """
            INSERT INTO ingestion_ratelimitwindow AS w (write_key_id, window_start, count)
            VALUES (%s, %s, %s)
            ON CONFLICT (write_key_id, window_start) DO UPDATE SET count = w.count + EXCLUDED.count
            RETURNING w.count, (w.xmax = 0) AS opened
            """,
            [write_key.pk, window_start, messages],
        )
        count, opened = cursor.fetchone()
        if opened:
            cursor.execute(
                "DELETE FROM ingestion_ratelimitwindow WHERE write_key_id = %s"
                " AND window_start < %s",
                [write_key.pk, window_start],
            )
            cursor.execute(
                "UPDATE tenancy_writekey SET last_used_at = %s WHERE id = %s",
                [now, write_key.pk],
            )
    if count <= limit:
        return 0
    return max(1, math.ceil((window_start + WINDOW - now).total_seconds()))
