"""The drill-down's 90-day KPI trend as server-rendered SVG geometry.

No charting library: this module turns the account's history rows into coordinates and
labels, the template (accounts_explorer/_account_trend.html) draws them. Accessibility:
the SVG has role="img" with a title and a description, every point a <title> for hover,
and the same numbers go to a visually hidden table for screen readers. Series differ by
dash pattern and marker shape as well as colour, so the chart reads without colour.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

TREND_DAYS = 90
WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 28, 12, 30

# (row field, label, css modifier): CSS gives each its colour, dash and marker.
SERIES = [
    ("core_feature_usage", "Core Feature Usage", "cfu"),
    ("active_user_coverage", "Active User Coverage", "coverage"),
    ("stickiness", "Stickiness", "stickiness"),
    ("product_score", "Product Score", "score"),
]


@dataclass(frozen=True)
class TrendPoint:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class TrendSeries:
    key: str
    label: str
    css: str
    segments: list[str]  # polyline "x,y x,y" runs, broken where a value is null
    points: list[TrendPoint]
    latest: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class TrendRow:
    day: str
    values: list[str]


@dataclass(frozen=True)
class TrendChart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    title: str
    description: str
    series: list[TrendSeries]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    rows: list[TrendRow]

    @property
    def empty(self) -> bool:
        return not self.rows


def _percent(value: float | None) -> str:
    return "no value" if value is None else f"{value:.1f}%"


def trend_chart(
    *, history: Iterable[Mapping[str, Any]], as_of: date, days: int = TREND_DAYS
) -> TrendChart:
    """Coordinates for the KPIs (0..100 %) over the `days` days ending on `as_of`."""
    rows = sorted(history, key=lambda row: row["as_of"])
    first_day = as_of - timedelta(days=days - 1)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def x_of(day: date) -> float:
        return round(LEFT + (day - first_day).days / max(days - 1, 1) * plot_w, 1)

    def y_of(value: float) -> float:
        return round(TOP + (1 - min(max(value, 0.0), 100.0) / 100) * plot_h, 1)

    series = []
    for key, label, css in SERIES:
        segments: list[str] = []
        run: list[str] = []
        points = []
        for row in rows:
            value = row[key]
            if value is None:
                if run:
                    segments.append(" ".join(run))
                run = []
                continue
            x, y = x_of(row["as_of"]), y_of(value)
            run.append(f"{x},{y}")
            points.append(TrendPoint(x, y, f"{label} on {row['as_of']:%Y-%m-%d}: {value:.1f}%"))
        if run:
            segments.append(" ".join(run))
        latest = _percent(rows[-1][key]) if rows else "no value"
        series.append(TrendSeries(key, label, css, segments, points, latest))

    y_ticks = [Tick(y_of(v), f"{v}%") for v in (0, 25, 50, 75, 100)]
    x_ticks = [
        Tick(
            x_of(first_day + timedelta(days=offset)), f"{first_day + timedelta(days=offset):%b %d}"
        )
        for offset in range(0, days, 30)
    ] + [Tick(x_of(as_of), f"{as_of:%b %d}")]
    table = [
        TrendRow(f"{row['as_of']:%Y-%m-%d}", [_percent(row[key]) for key, _, _ in SERIES])
        for row in rows
    ]
    if rows:
        latest = "; ".join(f"{s.label} {s.latest}" for s in series)
        description = (
            f"{len(rows)} computed day{'s' if len(rows) != 1 else ''} from "
            f"{rows[0]['as_of']:%Y-%m-%d} to {rows[-1]['as_of']:%Y-%m-%d}. "
            f"Latest: {latest}."
        )
    else:
        description = "No computed days in this period."
    return TrendChart(
        width=WIDTH,
        height=HEIGHT,
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_top=TOP,
        plot_bottom=HEIGHT - BOTTOM,
        title=f"Health KPIs over the {days} days to {as_of:%Y-%m-%d}",
        description=description,
        series=series,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        rows=table,
    )
