"""SPEC section 4: the as-of day D and the windows around it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# Window lengths and offsets in days, relative to the as-of day D (all ranges inclusive).
W_DAYS = 30  # W = D-29 .. D
P_OFFSET = 30  # P = D-59 .. D-30
H_DAYS = 180  # H = D-179 .. D, H' = D-209 .. D-30
WAU_SPAN = 7  # a user counts for WAU on day d when active on d-6 .. d


@dataclass(frozen=True)
class Windows:
    as_of: date
    w_start: date
    w_end: date
    p_start: date
    p_end: date
    h_start: date
    hp_start: date
    cutoff: datetime  # end of the as-of day in the organization's time zone, as UTC

    @classmethod
    def for_day(cls, as_of: date, timezone_name: str) -> Windows:
        tz = ZoneInfo(timezone_name)
        next_midnight = datetime.combine(as_of + timedelta(days=1), datetime.min.time(), tz)
        return cls(
            as_of=as_of,
            w_start=as_of - timedelta(days=W_DAYS - 1),
            w_end=as_of,
            p_start=as_of - timedelta(days=P_OFFSET + W_DAYS - 1),
            p_end=as_of - timedelta(days=P_OFFSET),
            h_start=as_of - timedelta(days=H_DAYS - 1),
            hp_start=as_of - timedelta(days=P_OFFSET + H_DAYS - 1),
            cutoff=next_midnight,
        )

    def params(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "w_start": self.w_start,
            "w_end": self.w_end,
            "p_start": self.p_start,
            "p_end": self.p_end,
            "h_start": self.h_start,
            "hp_start": self.hp_start,
            "cutoff": self.cutoff,
        }


def day_start(day: date, timezone_name: str) -> datetime:
    """The first instant of a day in the organization's time zone."""
    return datetime.combine(day, datetime.min.time(), ZoneInfo(timezone_name))
