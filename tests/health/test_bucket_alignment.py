"""The engine's 15-minute UTC buckets (health/engine/daily.py) never straddle a local
midnight: every time zone's offset since 2000 (events before are rejected) is a whole
number of quarter hours. Offsets change at most a few times a year, so weekly samples
see every offset a zone has used."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

QUARTER_HOUR = 15 * 60


def test_it_finds_every_zones_offset_a_whole_number_of_quarter_hours():
    odd: list[str] = []
    start = datetime(2000, 1, 1, tzinfo=UTC)
    samples = [start + timedelta(days=7 * week) for week in range(52 * 40)]
    for name in sorted(zoneinfo.available_timezones()):
        zone = zoneinfo.ZoneInfo(name)
        offsets = {moment.astimezone(zone).utcoffset().total_seconds() for moment in samples}
        odd += [f"{name} {offset}" for offset in offsets if offset % QUARTER_HOUR]
    assert odd == []
