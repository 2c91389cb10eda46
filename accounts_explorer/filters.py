"""The Accounts table's state, all of it in the URL: parsed here, written back as links.

?health=healthy|neutral|at-risk  quick filter (absent: All)
?q=...                           search by account name or id, within the quick filter
?last_seen=all                   drops the default "Product Last Seen in the last 30 days"
?sort=score | -score             any column key; '-' is descending
?page=2                          50 rows a page
?cols=name,id,score              visible columns in order (a no-JS form may send col=...)
?plan=Pro&score_min=50&...       advanced filters, ANDed (ADVANCED_FILTERS below)
?snapshot=12                     rows limited to a frozen bookmark's accounts
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import django_filters
from django import forms
from django.contrib.postgres.fields import ArrayField
from django.db.models import (
    BigIntegerField,
    BooleanField,
    CharField,
    DateField,
    Exists,
    F,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Cast
from django.http import QueryDict

from accounts_explorer.columns import DEFAULT_COLUMNS, DEFAULT_SORT
from health.models import AccountHealth, AccountState, RollupState

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
    # Advanced filters as (parameter, value) pairs in ADVANCED_FILTERS order.
    filters: tuple[tuple[str, str], ...] = ()
    snapshot: int = 0  # a frozen bookmark's id

    @property
    def sort_key(self) -> str:
        return self.sort.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        """The non-default parts of the state (with changes), as query parameters (a
        parameter may repeat: `trait`)."""
        state = replace(self, **changes)
        out: list[tuple[str, str]] = []
        if state.health != "all":
            out.append(("health", state.health))
        if state.q:
            out.append(("q", state.q))
        if state.last_seen != "30d":
            out.append(("last_seen", state.last_seen))
        out.extend(state.filters)
        if state.snapshot:
            out.append(("snapshot", str(state.snapshot)))
        if state.sort != DEFAULT_SORT:
            out.append(("sort", state.sort))
        if state.cols != tuple(DEFAULT_COLUMNS):
            out.append(("cols", ",".join(state.cols)))
        if state.page != 1:
            out.append(("page", str(state.page)))
        return out

    def query_string(self, **changes: Any) -> str:
        return urlencode(self.params(**changes), safe=",")

    def url(self, **changes: Any) -> str:
        """A link to the state with changes; a change of filter or sort goes to page 1."""
        if "page" not in changes and changes:
            changes["page"] = 1
        query = self.query_string(**changes)
        return f"?{query}" if query else "?"

    def filter_data(self) -> QueryDict:
        """What the FilterSet reads: search, last-seen and the advanced filters."""
        data = QueryDict(mutable=True)
        data["q"] = self.q
        data["last_seen"] = self.last_seen
        for name, value in self.filters:
            data.appendlist(name, value)
        return data

    def as_json(self) -> dict[str, Any]:
        """The view as a bookmark stores it (page excluded: a bookmark opens on page 1)."""
        return {
            "health": self.health,
            "q": self.q,
            "last_seen": self.last_seen,
            "sort": self.sort,
            "cols": list(self.cols),
            "filters": [list(pair) for pair in self.filters],
        }


def state_query_from_json(data: dict[str, Any]) -> QueryDict:
    """A stored view back as a query string (defaults left out), to be read and
    validated like a URL's."""
    default = ExplorerState()
    query = QueryDict(mutable=True)
    for name in ("health", "q", "last_seen", "sort"):
        value = data.get(name)
        if isinstance(value, str) and value and value != getattr(default, name):
            query[name] = value
    cols = data.get("cols")
    if isinstance(cols, list) and tuple(cols) != default.cols:
        query["cols"] = ",".join(str(c) for c in cols)
    for pair in data.get("filters") or []:
        if isinstance(pair, list | tuple) and len(pair) == 2:
            query.appendlist(str(pair[0]), str(pair[1]))
    return query


class ExplorerStateForm(forms.Form):
    health = forms.ChoiceField(choices=[(key, key) for key in QUICK_FILTERS], required=False)
    q = forms.CharField(max_length=MAX_SEARCH, required=False, strip=True)
    last_seen = forms.ChoiceField(choices=LAST_SEEN_CHOICES, required=False)
    sort = forms.RegexField(regex=r"^-?[A-Za-z0-9_.\- ]{1,80}$", required=False)
    page = forms.IntegerField(min_value=1, max_value=1_000_000, required=False)
    cols = forms.CharField(max_length=4000, required=False)
    snapshot = forms.IntegerField(min_value=1, max_value=2**31 - 1, required=False)


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
        filters=advanced_filters_from(query),
        snapshot=data.get("snapshot") or 0,
    )


def window_start(as_of: date, tz: ZoneInfo) -> datetime:
    """The first instant of W = D-29 .. D in the organization's time zone (SPEC 4)."""
    return datetime.combine(as_of - timedelta(days=29), time.min, tzinfo=tz)


# ---------------------------------------------------------------- advanced filters

# Exact-match account traits: parameter -> (trait, label).
TRAIT_EQUALS = {
    "plan": ("plan", "Plan"),
    "industry": ("industry", "Industry"),
    "country": ("country", "Country"),
    "region": ("region", "Region"),
}
# Numeric ranges: parameter stem -> (lookup, label, unit); a trait's lookup starts with
# "traits." and compares only numeric trait values.
RANGES = {
    "employees": ("traits.employees", "Employees", ""),
    "revenue": ("traits.inferred_revenue", "Revenue", ""),
    "score": ("product_score", "Product Score", "%"),
    "cfu": ("core_feature_usage", "Core Feature Usage", "%"),
    "stickiness": ("stickiness", "Stickiness", "%"),
    "coverage": ("active_user_coverage", "Active User Coverage", "%"),
    "active_users": ("active_users", "Active users", ""),
    "users": ("users_lifetime", "Users (lifetime)", ""),
}
BANDS = {
    "cfu_band": ("cfu_band", "Core Feature Usage"),
    "coverage_band": ("coverage_band", "Active User Coverage"),
    "stickiness_band": ("stickiness_band", "Stickiness"),
}
BAND_CHOICES = [("Low", "Low"), ("Moderate", "Moderate"), ("High", "High")]
# Product first / last seen, as days in the organization's time zone.
SEEN = {
    "first_seen": ("product_first_seen", "Customer since"),
    "last_seen": ("product_last_seen", "Product last seen"),
}
# "Used / did not use X in the last 30 days", from the engine's account state
# (health_account_state's usage days, health/engine/state.py).
USAGE = {
    "used_feature": ("features", True, "Used feature"),
    "unused_feature": ("features", False, "Did not use feature"),
    "used_module": ("modules", True, "Used module"),
    "unused_module": ("modules", False, "Did not use module"),
}
MAX_FILTER_VALUE = 200
_NO_WINDOW = datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC"))  # parsing only, never filters
MAX_TRAIT_FILTERS = 10
EARLIEST_DAY, LATEST_DAY = date(1900, 1, 1), date(9000, 12, 31)


def _advanced_names() -> list[str]:
    names = [*TRAIT_EQUALS]
    for stem in RANGES:
        names += [f"{stem}_min", f"{stem}_max"]
    names += [*BANDS]
    for stem in SEEN:
        names += [f"{stem}_from", f"{stem}_to"]
    return [*names, *USAGE, "trait"]


ADVANCED_FILTERS = _advanced_names()


class TraitPairField(forms.Field):
    """`trait=key=value`, repeatable: a list of (key, value)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[tuple[str, str]]:
        pairs = []
        for raw in (value or [])[:MAX_TRAIT_FILTERS]:
            key, sep, text = str(raw).partition("=")
            if sep and key.strip() and len(raw) <= MAX_FILTER_VALUE and "\x00" not in raw:
                pairs.append((key.strip(), text.strip()))
        return pairs


class TraitPairFilter(django_filters.Filter):
    field_class = TraitPairField


def _text_filter() -> django_filters.CharFilter:
    return django_filters.CharFilter(method="filter_advanced", max_length=MAX_FILTER_VALUE)


def _declared_filters() -> dict[str, django_filters.Filter]:
    declared: dict[str, django_filters.Filter] = {}
    for name in TRAIT_EQUALS:
        declared[name] = _text_filter()
    for stem in RANGES:
        for suffix in ("min", "max"):
            declared[f"{stem}_{suffix}"] = django_filters.NumberFilter(
                method="filter_advanced", min_value=-1e15, max_value=1e15
            )
    for name in BANDS:
        declared[name] = django_filters.ChoiceFilter(choices=BAND_CHOICES, method="filter_advanced")
    for stem in SEEN:
        for suffix in ("from", "to"):
            declared[f"{stem}_{suffix}"] = django_filters.DateFilter(method="filter_advanced")
    for name in USAGE:
        declared[name] = _text_filter()
    declared["trait"] = TraitPairFilter(method="filter_advanced")
    return declared


class AccountHealthFilter(django_filters.FilterSet):
    """The table's row filters, before the quick filter (whose counts are shown): search,
    the default last-seen filter and the advanced filters, all ANDed. The export and the
    API read rows through this same FilterSet."""

    q = django_filters.CharFilter(method="filter_search")
    last_seen = django_filters.ChoiceFilter(choices=LAST_SEEN_CHOICES, method="filter_last_seen")
    locals().update(_declared_filters())

    class Meta:
        model = AccountHealth
        fields: list[str] = []

    def __init__(
        self,
        *args: Any,
        window_start: datetime,
        product_id: int | None = None,
        by_key: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.window_start = window_start
        self.product_id = product_id
        self.by_key = by_key

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # The function is `name__icontains | external_id__icontains` in the organization in
        # scope, by the trigram indexes (LIKE is not leakproof: under the policy a plain
        # query scans every account).
        return queryset.filter(account_matches(AccountSearch(value), by_key=self.by_key))

    def filter_last_seen(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "30d":
            return queryset.filter(product_last_seen__gte=self.window_start)
        return queryset

    def filter_advanced(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        stem, _, suffix = name.rpartition("_")
        if RANGES.get(stem, ("",))[0].startswith("traits."):
            # Both ends of a trait's range in one call: either end alone matches most
            # accounts (employees at least 100: 98 in 100).
            low = self.form.cleaned_data.get(f"{stem}_min")
            if suffix == "max" and low is not None:
                return queryset  # applied with the minimum
            high = self.form.cleaned_data.get(f"{stem}_max")
            trait = RANGES[stem][0].removeprefix("traits.")
            accounts = TraitRange(trait, _float(low), _float(high))
            return queryset.filter(account_matches(accounts, by_key=self.by_key))
        return queryset.filter(
            advanced_q(
                name,
                value,
                w_from=self.window_start,
                product_id=self.product_id,
                by_key=self.by_key,
            )
        )


def advanced_q(
    name: str,
    value: Any,
    *,
    w_from: datetime,
    product_id: int | None = None,
    by_key: bool = False,
) -> Q:
    """One advanced filter as a condition on health_accounthealth;
    `w_from` is the first instant of W in the organization's time zone. With the rows'
    `product_id` the usage filters read the catalog positions once per query instead of
    once per row; `by_key`: account_matches."""
    tz = w_from.tzinfo
    if name in TRAIT_EQUALS:
        # Containment (not `traits -> key = value`): the GIN index on traits answers it.
        accounts = TraitsMatch([{TRAIT_EQUALS[name][0]: value}])
        return account_matches(accounts, by_key=by_key)
    if name == "trait":
        condition = Q()
        for key, text in value:
            number = _number(text)
            alternatives = [{key: text}] if number is None else [{key: text}, {key: number}]
            condition &= account_matches(TraitsMatch(alternatives), by_key=by_key)
        return condition
    if name in BANDS:
        return Q(**{BANDS[name][0]: value})
    stem, _, suffix = name.rpartition("_")
    if stem in RANGES and suffix in ("min", "max"):
        lookup = RANGES[stem][0]
        op = "gte" if suffix == "min" else "lte"
        # (A trait's range never gets here: filter_advanced applies both ends in one call.)
        return Q(**{f"{lookup}__{op}": float(value)})
    if stem in SEEN and suffix in ("from", "to"):
        field = SEEN[stem][0]
        value = min(max(value, EARLIEST_DAY), LATEST_DAY)  # far dates would overflow
        if suffix == "from":
            return Q(**{f"{field}__gte": datetime.combine(value, time.min, tzinfo=tz)})
        end = datetime.combine(value + timedelta(days=1), time.min, tzinfo=tz)
        return Q(**{f"{field}__lt": end})
    if name in USAGE:
        kind, used, _ = USAGE[name]
        # EXISTS is never NULL, so NOT stays two-valued.
        # The engine keeps, per account, the latest day in W each feature (module) was used,
        # in arrays by the catalog position its state recorded.
        column = "feature_last" if kind == "features" else "module_last"
        product = OuterRef("product_id") if product_id is None else product_id
        positions = RollupState.objects.filter(product_id=product).values(
            "usage_features" if kind == "features" else "usage_modules"
        )[:1]
        position = Func(
            Subquery(positions),
            Value(str(value)),
            function="array_position",
            output_field=IntegerField(),
        )
        did_use = Q(
            Exists(
                AccountState.objects.filter(
                    product_id=OuterRef("product_id"), account_pk=OuterRef("account_id")
                )
                .alias(last_used=ArrayItem(F(column), position))
                .filter(last_used__gte=w_from.date())
            )
        )
        return did_use if used else ~did_use
    raise ValueError(f"unknown filter {name!r}")


class EqualsAny(Func):
    """value = ANY(array)."""

    template = "%(expressions)s)"
    arg_joiner = " = ANY("
    output_field = BooleanField()


def account_matches(accounts: Func, *, by_key: bool) -> Q:
    """The rows of the accounts a match function returns, read one of two ways. By key
    (`account_id = ANY(ARRAY(...))`): each match's row is probed; right when the rows are
    sorted by an account column (the sort walks the account index, and a rare match must
    not make it walk them all) and cheap for a few matches. Otherwise tested against the
    matches hashed once (`account_id IN (...)`, kept from becoming a join by COALESCE, a
    no-op: the function never returns NULL): the count reads the day's rows from an index
    and the page walks the sort's index until it has 50, where 16,666 probes for a broad
    match cost 3-4 times as much. The same rows either way."""
    if by_key:
        return Q(EqualsAny(F("account_id"), ArrayOf(accounts)))
    return Q(InHashed(F("account_id"), accounts))


class InHashed(Func):
    """COALESCE(value IN (subquery), false): evaluated as a hashed subplan, never pulled
    up into a join (so an index walk in the sort's order keeps its order and stops)."""

    template = "COALESCE(%(expressions)s, false)"
    arg_joiner = " IN "
    output_field = BooleanField()


class ArrayOf(Func):
    """ARRAY(subquery)."""

    template = "ARRAY%(expressions)s"
    output_field = ArrayField(BigIntegerField())


class AccountSearch(Func):
    """The ids of the accounts of the organization in scope whose name or external id
    contains the text, case-insensitively and literally (accounts_explorer/migrations/0003),
    as a subquery (account_matches)."""

    template = "(SELECT vitals_account_search(%(expressions)s::text))"
    output_field = BigIntegerField()

    def __init__(self, text: str) -> None:
        super().__init__(Value(text, output_field=CharField()))


class TraitsMatch(Func):
    """The ids of the accounts of the organization in scope whose traits contain any of
    these objects (`traits @> ANY(...)`, by the GIN index; migrations/0003)."""

    template = "(SELECT vitals_account_traits_match(%(expressions)s::jsonb[]))"
    output_field = BigIntegerField()

    def __init__(self, alternatives: list[dict[str, Any]]) -> None:
        # jsonb text as Django's JSONField writes it for `traits__contains`.
        texts = [json.dumps(item) for item in alternatives]
        super().__init__(Value(texts, output_field=ArrayField(CharField())))


class TraitRange(Func):
    """The ids of the accounts of the organization in scope whose trait is a number
    within the bounds, either of which may be None (migrations/0003). jsonb compares
    numbers as numbers; a string never passes."""

    template = "(SELECT vitals_account_trait_range(%(expressions)s))"
    output_field = BigIntegerField()

    def __init__(self, trait: str, low: float | None, high: float | None) -> None:
        super().__init__(
            Value(trait, output_field=CharField()),
            Cast(Value(low), FloatField()),
            Cast(Value(high), FloatField()),
        )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


class ArrayItem(Func):
    """array[index] (1-based)."""

    template = "(%(expressions)s])"
    arg_joiner = "["
    output_field = DateField()


@dataclass(frozen=True)
class FilterField:
    """One input of the advanced-filter form, with the value the URL gives it."""

    name: str
    label: str
    kind: str  # text / number / date / band
    value: str
    group: str


def filter_fields(state: ExplorerState) -> list[FilterField]:
    current = dict(state.filters)
    fields = [
        FilterField(name, label, "text", current.get(name, ""), "Account")
        for name, (_, label) in TRAIT_EQUALS.items()
    ]
    for stem, (_, label, unit) in RANGES.items():
        group = "Account" if stem in ("employees", "revenue") else "KPIs and users"
        for suffix, word in (("min", "at least"), ("max", "at most")):
            name = f"{stem}_{suffix}"
            text = f"{label} {word}" + (" (%)" if unit else "")
            fields.append(FilterField(name, text, "number", current.get(name, ""), group))
    fields += [
        FilterField(name, f"{label} band", "band", current.get(name, ""), "KPIs and users")
        for name, (_, label) in BANDS.items()
    ]
    for stem, (_, label) in SEEN.items():
        for suffix, word in (("from", "from"), ("to", "to")):
            name = f"{stem}_{suffix}"
            value = current.get(name, "")
            fields.append(FilterField(name, f"{label} {word}", "date", value, "Seen"))
    fields += [
        FilterField(name, f"{label} (last 30 days)", "text", current.get(name, ""), "Usage")
        for name, (_, _, label) in USAGE.items()
    ]
    traits = [value for name, value in state.filters if name == "trait"]
    fields += [FilterField("trait", "Trait key=value", "text", v, "Traits") for v in traits]
    fields.append(FilterField("trait", "Trait key=value", "text", "", "Traits"))
    return fields


BAND_OPTIONS = [value for value, _ in BAND_CHOICES]


def filter_chip_label(name: str, value: str) -> str:
    """What a removable chip says for one advanced filter."""
    if name in TRAIT_EQUALS:
        return f"{TRAIT_EQUALS[name][1]}: {value}"
    if name == "trait":
        key, _, text = value.partition("=")
        return f"Trait {key} = {text}"
    if name in BANDS:
        return f"{BANDS[name][1]} band: {value}"
    if name in USAGE:
        return f"{USAGE[name][2]}: {value} (last 30 days)"
    stem, _, suffix = name.rpartition("_")
    if stem in RANGES:
        _, label, unit = RANGES[stem]
        return f"{label} {'≥' if suffix == 'min' else '≤'} {value}{unit}"
    if stem in SEEN:
        return f"{SEEN[stem][1]} {'on or after' if suffix == 'from' else 'on or before'} {value}"
    return f"{name}: {value}"


def _number(text: str) -> int | float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() and "." not in text else number


def _filter_text(value: Any) -> list[str]:
    """A cleaned value back as URL text."""
    if isinstance(value, list):
        return [f"{key}={text}" for key, text in value]
    if isinstance(value, date):
        return [value.isoformat()]
    if isinstance(value, Decimal | float):
        number = float(value)
        return [str(int(number)) if number.is_integer() else repr(number)]
    return [str(value)]


def advanced_filters_from(query: QueryDict) -> tuple[tuple[str, str], ...]:
    """The valid advanced filters of a query, in canonical order; invalid ones are dropped
    (a shared link keeps working), never a 400."""
    filterset = AccountHealthFilter(
        data=query, queryset=AccountHealth.dangerously_unscoped.none(), window_start=_NO_WINDOW
    )
    form = filterset.form
    form.is_valid()
    pairs: list[tuple[str, str]] = []
    for name in ADVANCED_FILTERS:
        value = form.cleaned_data.get(name)
        if value in (None, "", [], ()):
            continue
        pairs += [(name, text) for text in _filter_text(value)]
    return tuple(pairs)


def health_filter(queryset: QuerySet, state: ExplorerState) -> QuerySet:
    band = QUICK_FILTERS[state.health][1]
    return queryset if band is None else queryset.filter(health=band)
