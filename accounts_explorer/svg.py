"""Server-rendered SVG bar charts for the Health widget: no charting library to ship.

Accessible by construction: role="img" with <title> and <desc> named by aria-labelledby,
every bar carries its own <title> (the number on hover), and a visually-hidden table
holds the same numbers for screen readers. Colours come from CSS classes (band-red,
...), so the chart follows the page's stylesheet and needs no inline style.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH = 300
BAR_HEIGHT = 18
GAP = 8
LABEL_WIDTH = 92
VALUE_WIDTH = 64


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    colour: str  # red / yellow / green / grey


def _share(value: int, total: int) -> str:
    return f"{value / total * 100:.1f}%" if total else "0.0%"


def bar_chart(*, chart_id: str, title: str, description: str, bars: list[Bar]) -> SafeString:
    """A horizontal bar chart of band counts, plus its screen-reader table."""
    total = sum(bar.value for bar in bars)
    largest = max((bar.value for bar in bars), default=0)
    track = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    height = len(bars) * (BAR_HEIGHT + GAP) - GAP
    rows = []
    for index, bar in enumerate(bars):
        y = index * (BAR_HEIGHT + GAP)
        length = round(track * bar.value / largest, 1) if largest else 0
        hover = f"{bar.label}: {bar.value} accounts ({_share(bar.value, total)})"
        rows.append(
            format_html(
                '<g class="vitals-bar band-{}"><title>{}</title>'
                '<text class="vitals-bar-label" x="0" y="{}" dominant-baseline="middle">{}</text>'
                '<rect class="vitals-bar-track" x="{}" y="{}" width="{}" height="{}" rx="3"></rect>'
                '<rect class="vitals-bar-fill" x="{}" y="{}" width="{}" height="{}" rx="3"></rect>'
                '<text class="vitals-bar-value" x="{}" y="{}" dominant-baseline="middle">{}</text>'
                "</g>",
                bar.colour,
                hover,
                y + BAR_HEIGHT / 2,
                bar.label,
                LABEL_WIDTH,
                y,
                track,
                BAR_HEIGHT,
                LABEL_WIDTH,
                y,
                length,
                BAR_HEIGHT,
                LABEL_WIDTH + track + 6,
                y + BAR_HEIGHT / 2,
                bar.value,
            )
        )
    svg = format_html(
        '<svg class="vitals-chart" id="{id}" role="img" aria-labelledby="{id}-title {id}-desc" '
        'viewBox="0 0 {w} {h}" width="100%" preserveAspectRatio="xMinYMin meet" '
        'xmlns="http://www.w3.org/2000/svg">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>{rows}</svg>',
        id=chart_id,
        w=WIDTH,
        h=height,
        title=title,
        desc=_summary_text(description, bars, total),
        rows=mark_safe("".join(rows)),  # noqa: S308 - each row escaped by format_html above
    )
    table = format_html(
        '<table class="visually-hidden"><caption>{}</caption>'
        '<thead><tr><th scope="col">Band</th><th scope="col">Accounts</th>'
        '<th scope="col">Share</th></tr></thead><tbody>{}</tbody></table>',
        title,
        format_html_join(
            "",
            '<tr><th scope="row">{}</th><td>{}</td><td>{}</td></tr>',
            ((bar.label, bar.value, _share(bar.value, total)) for bar in bars),
        ),
    )
    return mark_safe(svg + table)  # noqa: S308 - both parts built with format_html


def _summary_text(description: str, bars: list[Bar], total: int) -> str:
    counts = ", ".join(f"{bar.label} {bar.value}" for bar in bars)
    return escape(f"{description} Active accounts by band: {counts} (of {total}).")
