"""The machine export of `export_health`: accounts.csv, summary.json, drilldown.json."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from django.db.models import Sum

from health.models import AccountHealth, PortfolioHealth
from health.selectors import drilldown_lists
from ingestion.models import IngestCounter
from vitals.tenancy.models import Product

ACCOUNT_COLUMNS = [
    "account_id",
    "name",
    "active_users",
    "active_users_prev",
    "stickiness",
    "stickiness_prev",
    "core_feature_usage",
    "core_feature_usage_prev",
    "active_user_coverage",
    "active_user_coverage_prev",
    "product_score",
    "product_score_prev",
    "health",
    "health_prev",
    "users_at_risk",
    "users_at_risk_prev",
    "visits",
    "visits_prev",
    "avg_session_seconds",
    "users_lifetime",
    "visits_lifetime",
    "product_first_seen",
    "product_last_seen",
    "avg_dau",
    "avg_dau_prev",
    "avg_wau",
    "avg_wau_prev",
    "avg_session_seconds_prev",
    "last_seen",
    "created_date",
]


def format_cell(value: Any) -> str:
    """SPEC section 9: nulls empty, timestamps UTC ISO with Z, floats unrounded."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return (
            value.astimezone(tz=None if value.tzinfo is None else value.tzinfo).strftime(
                "%Y-%m-%dT%H:%M:%S.%f"
            )[:-3]
            + "Z"
        )
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def account_rows(*, product: Product, as_of: date) -> list[dict[str, Any]]:
    rows = []
    queryset = (
        AccountHealth.objects.filter(product=product, as_of=as_of)
        .select_related("account")
        .order_by("account__external_id")
    )
    for health in queryset:
        row = {column: getattr(health, column, None) for column in ACCOUNT_COLUMNS}
        row["account_id"] = health.account.external_id
        row["name"] = health.account.name
        rows.append(row)
    return rows


def summary_for(*, product: Product, as_of: date) -> dict[str, Any]:
    portfolio = PortfolioHealth.objects.filter(product=product, as_of=as_of).first()
    if portfolio is None:
        raise LookupError(f"no health computed for {product.key} as of {as_of}")
    counts = IngestCounter.objects.filter(product=product).aggregate(
        accepted=Sum("accepted"), rejected=Sum("rejected"), duplicate=Sum("duplicate")
    )
    return {
        **portfolio.summary,
        "messages_accepted": counts["accepted"] or 0,
        "messages_rejected": counts["rejected"] or 0,
        "messages_duplicate": counts["duplicate"] or 0,
    }


def drilldowns_for(*, product: Product, as_of: date) -> dict[str, Any]:
    accounts = dict(
        AccountHealth.objects.filter(product=product, as_of=as_of)
        .order_by("account__external_id")
        .values_list("account__external_id", "account_id")
    )
    lists = drilldown_lists(product=product, as_of=as_of, account_pks=list(accounts.values()))
    return {
        external_id: {key: value for key, value in lists[pk].items() if key != "users"}
        for external_id, pk in accounts.items()
    }


def health_export(*, product: Product, as_of: date, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = account_rows(product=product, as_of=as_of)
    with (out_dir / "accounts.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(ACCOUNT_COLUMNS)
        for row in rows:
            writer.writerow([format_cell(row[column]) for column in ACCOUNT_COLUMNS])
    (out_dir / "summary.json").write_text(
        json.dumps(summary_for(product=product, as_of=as_of), indent=2, default=str)
    )
    (out_dir / "drilldown.json").write_text(
        json.dumps(drilldowns_for(product=product, as_of=as_of), indent=1)
    )
