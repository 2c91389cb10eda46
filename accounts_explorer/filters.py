"""The Accounts table's state, all of it in the URL: parsed here, written back as links.

?health=healthy|neutral|at-risk  quick filter (absent: All)
?q=...                           search by account name or id, within the quick filter
?last_seen=all                   drops the default "Product Last Seen in the last 30 days"
?sort=score | -score             any column key; '-' is descending
?page=2                          50 rows a page
?cols=name,id,score              visible columns in order (a no-JS form may send col=...)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.http import QueryDict

from accounts_explorer.columns import DEFAULT_COLUMNS, DEFAULT_SORT
from health.models import AccountHealth

PAGE_SIZE = 50
MAX_SEARCH = 200

QUICK_FILTERS = {
    "all": ("All", None),
    "healthy": ("Healthy", "Healthy"),
    "neutral": ("Neutral", "Neutral"),
    "at-risk": ("At Risk", "At Risk"),
}
LAST_SEEN_CHOICES = [("30d", "Product Last Seen in the last 30 days"), ("all", "Any time")]


@dataclass(frozen=True)
class ExplorerState:
    health: str = "all"
    q: str = ""
    last_seen: str = "30d"
    sort: str = DEFAULT_SORT
    page: int = 1
    cols: tuple[str, ...] = tuple(DEFAULT_COLUMNS)

    @property
    def sort_key(self) -> str:
        return self.sort.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    def params(self, **changes: Any) -> dict[str, str]:
        """The non-default parts of the state (with changes), as query parameters."""
        state = replace(self, **changes)
        out: dict[str, str] = {}
        if state.health != "all":
            out["health"] = state.health
        if state.q:
            out["q"] = state.q
        if state.last_seen != "30d":
            out["last_seen"] = state.last_seen
        if state.sort != DEFAULT_SORT:
            out["sort"] = state.sort
        if state.cols != tuple(DEFAULT_COLUMNS):
            out["cols"] = ",".join(state.cols)
        if state.page != 1:
            out["page"] = str(state.page)
        return out

    def url(self, **changes: Any) -> str:
        """A link to the state with changes; a change of filter or sort goes to page 1."""
        if "page" not in changes and changes:
            changes["page"] = 1
        query = urlencode(self.params(**changes), safe=",")
        return f"?{query}" if query else "?"


class ExplorerStateForm(forms.Form):
    health = forms.ChoiceField(choices=[(key, key) for key in QUICK_FILTERS], required=False)
    q = forms.CharField(max_length=MAX_SEARCH, required=False, strip=True)
    last_seen = forms.ChoiceField(choices=LAST_SEEN_CHOICES, required=False)
    sort = forms.RegexField(regex=r"^-?[A-Za-z0-9_.\- ]{1,80}$", required=False)
    page = forms.IntegerField(min_value=1, max_value=1_000_000, required=False)
    cols = forms.CharField(max_length=4000, required=False)


def explorer_state_from(query: QueryDict, *, valid_columns: set[str]) -> ExplorerState:
    """Reads the state; a value that is invalid falls back to its default, never a 400
    (links get shared and columns disappear)."""
    form = ExplorerStateForm(query)
    form.is_valid()
    data = form.cleaned_data
    default = ExplorerState()
    # A plain form without JavaScript sends one `col` per ticked checkbox.
    raw_cols = query.getlist("col") or (data.get("cols") or "").split(",")
    cols = tuple(dict.fromkeys(c.strip() for c in raw_cols if c.strip() in valid_columns))
    sort = data.get("sort") or default.sort
    if sort.removeprefix("-") not in valid_columns:
        sort = default.sort
    return ExplorerState(
        health=data.get("health") or default.health,
        q=data.get("q") or "",
        last_seen=data.get("last_seen") or default.last_seen,
        sort=sort,
        page=data.get("page") or 1,
        cols=cols or default.cols,
    )


def window_start(as_of: date, tz: ZoneInfo) -> datetime:
    """The first instant of W = D-29 .. D in the organization's time zone (SPEC 4)."""
    return datetime.combine(as_of - timedelta(days=29), time.min, tzinfo=tz)


class AccountHealthFilter(django_filters.FilterSet):
    """The table's row filters, before the quick filter (whose counts are shown)."""

    q = django_filters.CharFilter(method="filter_search")
    last_seen = django_filters.ChoiceFilter(choices=LAST_SEEN_CHOICES, method="filter_last_seen")

    class Meta:
        model = AccountHealth
        fields: list[str] = []

    def __init__(self, *args: Any, window_start: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.window_start = window_start

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(
            Q(account__name__icontains=value) | Q(account__external_id__icontains=value)
        )

    def filter_last_seen(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "30d":
            return queryset.filter(product_last_seen__gte=self.window_start)
        return queryset


def health_filter(queryset: QuerySet, state: ExplorerState) -> QuerySet:
    band = QUICK_FILTERS[state.health][1]
    return queryset if band is None else queryset.filter(health=band)
