"""The explorer's one template filter: a table cell as HTML.

A page of 50 rows has several hundred cells; rendering each through template tags (or
even format_html) costs more than the SQL behind the page, so a cell is written here with
plain string building, every value through the standard library's html.escape. What a
cell says and its colour were decided in columns.py and formatting.py.
"""

from __future__ import annotations

from html import escape

from django import template
from django.utils.safestring import SafeString, mark_safe

from accounts_explorer.columns import Cell

register = template.Library()


@register.filter
def table_cell(cell: Cell, key: str) -> SafeString:
    """<td data-col="score" class=... title="Prior 30 days: ...">value ▲</td>"""
    classes = []
    if cell.numeric:
        classes.append("text-end")
    if cell.colour and not cell.badge:
        classes.append(f"band-cell band-{escape(cell.colour)}")
    title = cell.trend.title if cell.trend else ""
    if cell.title:
        title = f"{title} · {cell.title}" if title else cell.title
    text = escape(cell.text)
    if cell.badge:
        value = (
            f'<span class="badge vitals-band band-{escape(cell.colour)} cell-value">{text}</span>'
        )
    elif cell.href:
        rel = "" if cell.href.startswith("/") else ' rel="noopener noreferrer nofollow"'
        value = f'<a class="cell-value" href="{escape(cell.href)}"{rel}>{text}</a>'
    else:
        value = f'<span class="cell-value">{text}</span>'
    trend = ""
    if cell.trend and cell.trend.symbol:
        trend = (
            f'<span class="vitals-trend trend-{escape(cell.trend.colour)}">'
            f'<span aria-hidden="true">{cell.trend.symbol}</span>'
            f'<span class="visually-hidden">{escape(cell.trend.label)}</span></span>'
        )
    elif cell.trend:
        trend = f'<span class="visually-hidden">{escape(cell.trend.label)}</span>'
    class_attr = f' class="{" ".join(classes)}"' if classes else ""
    title_attr = f' title="{escape(title)}"' if title else ""
    html = f'<td data-col="{escape(key)}"{class_attr}{title_attr}>{value}{trend}</td>'
    return mark_safe(html)  # noqa: S308 - every value above is escaped
