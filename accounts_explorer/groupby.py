"""Group-by report (as Heap's account analysis): one KPI or count per value of an account
attribute, last 30 days (W) against the prior 30 (P, the engine's `_prev` columns).

The numbers are one SQL statement with GROUP BY over the product's AccountHealth rows of
the latest computed day joined to the accounts' traits (`groupby_rows`). Means follow
SPEC section 7: over active accounts of the window with a non-null value.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from accounts_explorer.selectors import custom_traits, portfolio_latest
from vitals.tenancy.models import Product

NONE_LABEL = "(none)"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    current: str  # SQL aggregate over W columns
    prior: str  # the same over P columns
    percent: bool = False


def _mean(column: str, active: str) -> str:
    return f"avg(h.{column}) FILTER (WHERE h.{active} > 0)"


METRICS = {
    m.key: m
    for m in [
        Metric(
            "accounts",
            "Active accounts",
            "count(*) FILTER (WHERE h.active_users > 0)",
            "count(*) FILTER (WHERE h.active_users_prev > 0)",
        ),
        Metric(
            "active_users", "Active users (sum)", "sum(h.active_users)", "sum(h.active_users_prev)"
        ),
        Metric("mau", "MAU (mean per account)", "avg(h.active_users)", "avg(h.active_users_prev)"),
        Metric(
            "cfu",
            "Core Feature Usage (mean)",
            _mean("core_feature_usage", "active_users"),
            _mean("core_feature_usage_prev", "active_users_prev"),
            percent=True,
        ),
        Metric(
            "stickiness",
            "Stickiness (mean)",
            _mean("stickiness", "active_users"),
            _mean("stickiness_prev", "active_users_prev"),
            percent=True,
        ),
        Metric(
            "coverage",
            "Active User Coverage (mean)",
            _mean("active_user_coverage", "active_users"),
            _mean("active_user_coverage_prev", "active_users_prev"),
            percent=True,
        ),
        Metric(
            "score",
            "Product Score (mean)",
            _mean("product_score", "active_users"),
            _mean("product_score_prev", "active_users_prev"),
            percent=True,
        ),
        Metric(
            "users_at_risk",
            "Users at risk (sum)",
            "sum(h.users_at_risk)",
            "sum(h.users_at_risk_prev)",
        ),
        Metric("visits", "Visits (sum)", "sum(h.visits)", "sum(h.visits_prev)"),
    ]
}
ATTRIBUTES = {"plan": "Plan", "industry": "Industry", "region": "Region", "country": "Country"}


@dataclass(frozen=True)
class GroupRow:
    group: str
    current: float | None
    prior: float | None

    @property
    def change(self) -> float | None:
        if self.current is None or not self.prior:
            return None
        return (self.current - self.prior) / self.prior * 100


def groupby_rows(*, product: Product, as_of: object, metric: Metric, trait: str) -> list[GroupRow]:
    """One row per value of the trait (missing and empty values together as "(none)")."""
    # Raw SQL bypasses the tenant manager, so the organization is filtered explicitly.
    sql = f"""
        SELECT coalesce(nullif(a.traits ->> %s, ''), %s) AS grp,
               {metric.current}::float8 AS cur, {metric.prior}::float8 AS prev
        FROM health_accounthealth h
        JOIN ingestion_account a ON a.id = h.account_id AND a.organization_id = h.organization_id
        WHERE h.organization_id = %s AND h.product_id = %s AND h.as_of = %s
        GROUP BY 1
        ORDER BY cur DESC NULLS LAST, grp
    """  # noqa: S608 - the aggregates come from METRICS, never from the request
    with connection.cursor() as cursor:
        cursor.execute(sql, [trait, NONE_LABEL, product.organization_id, product.pk, as_of])
        return [GroupRow(grp, cur, prev) for grp, cur, prev in cursor.fetchall()]


# ---------------------------------------------------------------- chart

WIDTH, LABEL_W, VALUE_W, BAR_H, GAP = 640, 160, 90, 14, 10


def _number(value: float | None, metric: Metric) -> str:
    if value is None:
        return "–"
    if metric.percent:
        return f"{value:.1f}%"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def groupby_chart(*, rows: list[GroupRow], metric: Metric, attribute: str) -> SafeString:
    """Paired horizontal bars (last 30 days, prior 30) per group, with a hidden table."""
    largest = max([v for r in rows for v in (r.current, r.prior) if v is not None] or [0])
    track = WIDTH - LABEL_W - VALUE_W
    step = 2 * BAR_H + GAP
    parts = []
    for i, row in enumerate(rows):
        y = i * step
        bars = []
        for offset, value, css, window in (
            (0, row.current, "groupby-current", "last 30 days"),
            (BAR_H, row.prior, "groupby-prior", "prior 30 days"),
        ):
            length = round(track * (value or 0) / largest, 1) if largest else 0
            bars.append(
                format_html(
                    '<g class="{}"><title>{}, {}: {}</title>'
                    '<rect x="{}" y="{}" width="{}" height="{}" rx="2"></rect>'
                    '<text x="{}" y="{}" dominant-baseline="middle">{}</text></g>',
                    css,
                    row.group,
                    window,
                    _number(value, metric),
                    LABEL_W,
                    y + offset,
                    length,
                    BAR_H - 2,
                    LABEL_W + length + 4,
                    y + offset + BAR_H / 2,
                    _number(value, metric),
                )
            )
        parts.append(
            format_html(
                '<text class="groupby-label" x="0" y="{}" dominant-baseline="middle">{}</text>{}',
                y + BAR_H,
                row.group[:24],
                mark_safe("".join(bars)),  # noqa: S308 - escaped
            )
        )
    title = f"{metric.label} by {attribute}"
    desc = f"{title}, last 30 days against the prior 30 days: " + "; ".join(
        f"{r.group} {_number(r.current, metric)} (prior {_number(r.prior, metric)})" for r in rows
    )
    svg = format_html(
        '<svg class="vitals-chart groupby-chart" id="groupby-chart" role="img" '
        'aria-labelledby="groupby-chart-title groupby-chart-desc" viewBox="0 0 {} {}" '
        'width="100%" xmlns="http://www.w3.org/2000/svg">'
        '<title id="groupby-chart-title">{}</title><desc id="groupby-chart-desc">{}</desc>'
        "{}</svg>",
        WIDTH,
        max(step * len(rows) - GAP, 1),
        title,
        desc,
        mark_safe("".join(parts)),  # noqa: S308 - each part built with format_html
    )
    table = format_html(
        '<table class="visually-hidden"><caption>{}</caption><thead><tr>'
        '<th scope="col">{}</th><th scope="col">Last 30 days</th>'
        '<th scope="col">Prior 30 days</th></tr></thead><tbody>{}</tbody></table>',
        title,
        attribute,
        format_html_join(
            "",
            '<tr><th scope="row">{}</th><td>{}</td><td>{}</td></tr>',
            ((r.group, _number(r.current, metric), _number(r.prior, metric)) for r in rows),
        ),
    )
    return mark_safe(svg + table)  # noqa: S308 - both parts built with format_html


# ---------------------------------------------------------------- view

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


def _csv_number(value: float | None) -> str:
    return "" if value is None else repr(value)


@require_GET
def groupby_report(request: HttpRequest, org_slug: str, product_key: str) -> HttpResponse:
    """?metric=<METRICS key>&by=<plan|industry|region|country|trait.<name>>[&format=csv]"""
    product = request.product  # type: ignore[attr-defined]
    portfolio = portfolio_latest(product=product)
    traits = custom_traits(product=product, portfolio=portfolio) if portfolio else []
    attributes = {**ATTRIBUTES, **{f"trait.{t}": t for t in traits}}
    metric = METRICS.get(request.GET.get("metric", ""), METRICS["accounts"])
    by = request.GET.get("by", "")
    by = by if by in attributes else "plan"
    trait = by.removeprefix("trait.")
    rows = (
        groupby_rows(product=product, as_of=portfolio.as_of, metric=metric, trait=trait)
        if portfolio
        else []
    )
    if request.GET.get("format") == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{metric.key}-by-{trait}.csv"'
        writer = csv.writer(response)
        writer.writerow([trait, metric.key, f"{metric.key}_prev", "change_percent"])
        for r in rows:
            writer.writerow(
                [
                    _csv_text(r.group),
                    _csv_number(r.current),
                    _csv_number(r.prior),
                    _csv_number(r.change),
                ]
            )
        return response
    context = {
        "portfolio": portfolio,
        "metric": metric,
        "metrics": METRICS.values(),
        "by": by,
        "attributes": attributes.items(),
        "attribute_label": attributes[by],
        "rows": [(r, _number(r.current, metric), _number(r.prior, metric)) for r in rows],
        "chart": groupby_chart(rows=rows, metric=metric, attribute=attributes[by]),
        "csv_query": f"metric={metric.key}&by={by}&format=csv",
    }
    return render(request, "accounts_explorer/groupby.html", context)
