"""CSV export of the Accounts table: the current view, or every column of its rows.

The rows come from the table's own selector (selectors.account_rows), so an export and
the screen cannot disagree on filters or order. Rows stream from a server-side cursor
(QuerySet.iterator) through StreamingHttpResponse: memory stays flat at 100,000 accounts.
Values follow SPEC section 9: percentages unrounded in 0..100, dates ISO 8601,
timestamps UTC with a Z, nulls empty. Text that a spreadsheet would read as a formula
(=, +, -, @, tab, carriage return first) gets a leading single quote.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from accounts_explorer import formatting as fmt
from accounts_explorer.columns import COLUMNS, Column, column_for
from accounts_explorer.filters import explorer_state_from
from accounts_explorer.selectors import (
    account_rows,
    custom_traits,
    portfolio_latest,
    snapshot_for,
    valid_column_keys,
)
from vitals.tenancy.models import Organization, Product
from vitals.tenancy.scope import tenant_scope

CHUNK_SIZE = 2000  # rows per server-side cursor fetch
LINES_PER_WRITE = 500
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def neutralise(value: str) -> str:
    """A text cell a spreadsheet would run as a formula, made inert (OWASP CSV injection)."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def _cell(value: Any) -> str:
    """A value as CSV text: numbers as they are (never neutralised, -3 stays a number),
    booleans and JSON in JSON notation, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, dict | list):
        return neutralise(json.dumps(value, ensure_ascii=False))
    return neutralise(str(value))


Row = dict[str, Any]  # one `.values()` row: no model instances for 100,000 rows


def _field(name: str) -> Callable[[Row], Any]:
    return lambda row: row[name]


def _timestamp(name: str) -> Callable[[Row], Any]:
    return lambda row: fmt.timestamp_utc(row[name]) or None


VALUES: dict[str, Callable[[Row], Any]] = {
    "name": lambda row: row["account__name"] or row["account__external_id"],
    "id": _field("account__external_id"),
    "health": _field("health"),
    "score": _field("product_score"),
    "cfu": _field("core_feature_usage"),
    "stickiness": _field("stickiness"),
    "coverage": _field("active_user_coverage"),
    "active_users": _field("active_users"),
    "users_at_risk": _field("users_at_risk"),
    "visits": _field("visits"),
    "avg_session": _field("avg_session_seconds"),
    "avg_dau": _field("avg_dau"),
    "avg_wau": _field("avg_wau"),
    "product_last_seen": _timestamp("product_last_seen"),
    "product_first_seen": _timestamp("product_first_seen"),
    "last_seen": _timestamp("last_seen"),
    "users_lifetime": _field("users_lifetime"),
    "visits_lifetime": _field("visits_lifetime"),
    "created": lambda row: row["created_date"].isoformat() if row["created_date"] else None,
}
FIELDS = [
    "account__name",
    "account__external_id",
    "account__traits",
    "health",
    "product_score",
    "core_feature_usage",
    "stickiness",
    "active_user_coverage",
    "active_users",
    "users_at_risk",
    "visits",
    "avg_session_seconds",
    "avg_dau",
    "avg_wau",
    "product_last_seen",
    "product_first_seen",
    "last_seen",
    "users_lifetime",
    "visits_lifetime",
    "created_date",
]
HEADER_UNITS = {"avg_session": " (seconds)"}


def _trait(name: str) -> Callable[[Row], Any]:
    def value(row: Row) -> Any:
        traits = row["account__traits"]
        return traits.get(name) if isinstance(traits, dict) else None

    return value


def export_getter(column: Column) -> Callable[[Row], Any]:
    """How a column's CSV value is read from a row (a trait column reads the trait)."""
    return VALUES.get(column.key) or _trait(column.key.removeprefix("trait."))


def export_header(column: Column) -> str:
    return neutralise(column.label + HEADER_UNITS.get(column.key, ""))


@dataclass
class AccountExport:
    filename: str
    chunks: Iterator[str]


class _Line:
    """csv.writer's file: hands back each written line."""

    def write(self, value: str) -> str:
        return value


def account_export(
    *,
    organization: Organization,
    product: Product,
    user: Any,
    query: Any,
    all_columns: bool = False,
    bom: bool = False,
) -> AccountExport:
    """The view the query describes as CSV chunks (header first), or with `all_columns`
    every column, visible ones first in their order, then the rest in chooser order."""
    portfolio = portfolio_latest(product=product)
    traits = custom_traits(product=product, portfolio=portfolio) if portfolio else []
    state = explorer_state_from(query, valid_columns=valid_column_keys(traits))
    state, snapshot_ids, _ = snapshot_for(
        organization=organization, product=product, user=user, state=state
    )
    custom = frozenset(traits)
    keys = list(state.cols)
    if all_columns:
        every = [*COLUMNS, *(f"trait.{name}" for name in traits)]
        keys += [key for key in every if key not in keys]
    columns = [col for key in keys if (col := column_for(key, custom)) is not None]
    as_of = portfolio.as_of.isoformat() if portfolio else "none"
    filename = f"accounts-{organization.slug}-{product.key}-{as_of}.csv"

    def chunks() -> Iterator[str]:
        writer = csv.writer(_Line(), lineterminator="\r\n")
        yield (BOM if bom else "") + writer.writerow([export_header(c) for c in columns])
        if portfolio is None:
            return
        # The response streams after the view returned and the middleware left the
        # tenant scope: the generator enters it again.
        with tenant_scope(organization, product):
            rows = (
                account_rows(
                    product=product,
                    as_of=portfolio.as_of,
                    tz=organization.tzinfo,
                    state=state,
                    traits=traits,
                    snapshot_ids=snapshot_ids,
                )
            ).values(*FIELDS)
            getters = [export_getter(c) for c in columns]
            lines: list[str] = []
            for row in rows.iterator(chunk_size=CHUNK_SIZE):
                lines.append(writer.writerow([_cell(get(row)) for get in getters]))
                if len(lines) >= LINES_PER_WRITE:
                    yield "".join(lines)
                    lines = []
            if lines:
                yield "".join(lines)

    return AccountExport(filename=filename, chunks=chunks())
