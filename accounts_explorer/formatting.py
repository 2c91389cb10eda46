"""How the explorer shows a number: band colours, one-decimal percentages, trends, changes.

The one tested place for presentation rules (STYLE habit 9): templates print what these
functions return and never decide a colour or a rounding themselves. SPEC section 9: the
UI shows percentages to one decimal; section 4: a trend is up when W > P, down when
W < P, flat when equal or when either is null; section 7: a change is (W - P) / P x 100,
null when P = 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

Direction = Literal["up", "down", "flat"]

# SPEC section 6: the colour of every band text the engine writes.
BAND_COLOURS: dict[str, str] = {
    "At Risk": "red",
    "Low": "red",
    "Neutral": "yellow",
    "Moderate": "yellow",
    "Healthy": "green",
    "High": "green",
    "Inactive": "grey",
    "Not configured": "grey",
}

NOT_AVAILABLE = "–"


def band_colour(band: str | None) -> str:
    """red / yellow / green / grey for a band text; grey for an empty or unknown band."""
    return BAND_COLOURS.get(band or "", "grey")


def score_band(value: float | None, lower: float, upper: float) -> str:
    """The Product Score band of SPEC section 6 for a value and its two limits."""
    if value is None:
        return ""
    if value < lower:
        return "At Risk"
    if value < upper:
        return "Neutral"
    return "Healthy"


def level_band(value: float | None, lower: float, upper: float) -> str:
    """The Low / Moderate / High band of CFU, Active User Coverage and Stickiness."""
    if value is None:
        return ""
    if value < lower:
        return "Low"
    if value < upper:
        return "Moderate"
    return "High"


def percent(value: float | None) -> str:
    """42.857 -> '42.9%'; None -> '–'."""
    if value is None:
        return NOT_AVAILABLE
    return f"{value:.1f}%"


def decimal(value: float | None) -> str:
    """A non-percentage float (average DAU, WAU) to one decimal."""
    if value is None:
        return NOT_AVAILABLE
    return f"{value:,.1f}"


def integer(value: int | float | None) -> str:
    """12345 -> '12,345'."""
    if value is None:
        return NOT_AVAILABLE
    return f"{value:,.0f}" if isinstance(value, float) else f"{value:,}"


def duration(seconds: float | None) -> str:
    """An average session length: 419.6 -> '7m 0s', 3725 -> '1h 2m', 0 -> '0s'."""
    if seconds is None:
        return NOT_AVAILABLE
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def day(value: date | datetime | None, tz: ZoneInfo | None = None) -> str:
    """A date, or a timestamp's calendar day in the organization's time zone, ISO style."""
    if value is None:
        return NOT_AVAILABLE
    if isinstance(value, datetime):
        value = value.astimezone(tz).date() if tz is not None else value.date()
    return value.isoformat()


def timestamp_utc(value: datetime | None) -> str:
    """A timestamp for a tooltip: UTC with a Z, to the second (SPEC section 9)."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


def trend(current: float | None, prior: float | None) -> Direction:
    """SPEC section 4: up when W > P, down when W < P, flat when equal or either is null."""
    if current is None or prior is None or current == prior:
        return "flat"
    return "up" if current > prior else "down"


def change_percent(current: float | None, prior: float | None) -> float | None:
    """SPEC section 7: (W - P) / P x 100, null when P = 0 (or either is missing)."""
    if current is None or prior is None or prior == 0:
        return None
    return (current - prior) / prior * 100


@dataclass(frozen=True)
class Trend:
    """A trend triangle: what a sighted person sees, hears and gets on hover."""

    direction: Direction
    colour: str  # "green" / "red" / "grey"
    symbol: str  # ▲ ▼ or empty
    label: str  # for screen readers, e.g. "up from 40.0%"
    title: str  # on hover, e.g. "Prior 30 days: 40.0%"


TREND_SYMBOLS = {"up": "▲", "down": "▼", "flat": ""}


def trend_of(
    current: float | None,
    prior: float | None,
    prior_text: str,
    *,
    higher_is_better: bool = True,
) -> Trend:
    """Green up / red down for a KPI (inverted for counts where more is worse, such as
    users at risk), with the prior value for hover and screen readers."""
    direction = trend(current, prior)
    if direction == "flat":
        colour = "grey"
        label = "no change" if prior is not None else "no prior value"
    else:
        better = (direction == "up") == higher_is_better
        colour = "green" if better else "red"
        label = f"{direction} from {prior_text}"
    return Trend(
        direction=direction,
        colour=colour,
        symbol=TREND_SYMBOLS[direction],
        label=label,
        title=f"Prior 30 days: {prior_text}",
    )


@dataclass(frozen=True)
class Change:
    """A Summary figure's change against the prior 30 days."""

    text: str  # "+12.5%", "-3.0%", "0.0%" or "–"
    direction: Direction
    colour: str
    symbol: str
    label: str  # "up 12.5% from 8 in the prior 30 days"


def change_of(current: int, prior: int | None, *, higher_is_better: bool = True) -> Change | None:
    """None when the figure has no prior value at all (Total Accounts, Total Users)."""
    if prior is None:
        return None
    value = change_percent(current, prior)
    direction = trend(current, prior)
    if value is None:
        return Change(
            text=NOT_AVAILABLE,
            direction="flat",
            colour="grey",
            symbol="",
            label=f"no change figure: the prior 30 days had {integer(prior)}",
        )
    if direction == "flat":
        colour = "grey"
    else:
        colour = "green" if (direction == "up") == higher_is_better else "red"
    sign = "+" if value > 0 else ""
    text = f"{sign}{value:.1f}%"
    words = {"up": "up", "down": "down", "flat": "unchanged"}[direction]
    return Change(
        text=text,
        direction=direction,
        colour=colour,
        symbol=TREND_SYMBOLS[direction],
        label=f"{words} {abs(value):.1f}% from {integer(prior)} in the prior 30 days",
    )
