"""Reads for the admin pages; every queryset is scoped to the organization in scope."""

from __future__ import annotations

import json
import zoneinfo
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Count, QuerySet

from health.catalog import health_settings_for, module_ancestors
from health.models import Feature, HealthRun, Module, RollupState
from ingestion.models import RejectedMessage
from settings_admin.models import AuditEntry
from vitals.tenancy.models import Membership, Organization, Product, WriteKey

PAGE_SIZE = 50


def organization_overview(*, organization: Organization) -> dict[str, Any]:
    """Members, products, write keys and time zone of the organization in scope."""
    return {
        "memberships": Membership.objects.select_related("user").order_by("user__username"),
        "products": Product.objects.order_by("name"),
        "write_keys": WriteKey.objects.select_related("product").order_by("-created_at"),
        "timezones": sorted(zoneinfo.available_timezones()),
        "audit_entries": audit_entries(limit=5),
    }


def quarantine_page(*, product_key: str = "", reason: str = "", page: int = 1) -> dict[str, Any]:
    """Rejected messages, newest first, filtered by product and reason; reasons with counts."""
    messages: QuerySet[RejectedMessage] = RejectedMessage.objects.select_related("product")
    if product_key:
        messages = messages.filter(product__key=product_key)
    reasons = (
        messages.values("reason").annotate(count=Count("id")).order_by("-count", "reason")[:50]
    )
    if reason:
        messages = messages.filter(reason=reason)
    paginator = Paginator(messages.order_by("-received_at", "-id"), PAGE_SIZE)
    page_obj: Page = paginator.get_page(page)
    return {
        "page": page_obj,
        "reasons": list(reasons),
        "products": Product.objects.order_by("name"),
        "selected_product": product_key,
        "selected_reason": reason,
    }


def health_runs_page(*, page: int = 1) -> dict[str, Any]:
    runs = HealthRun.objects.select_related("product").order_by("-queued_at", "-id")
    return {"page": Paginator(runs, PAGE_SIZE).get_page(page)}


# --- account settings, catalog, audit -----------------------------------------------------

METRIC_LABELS = {
    "core_feature_usage": "Core Feature Usage",
    "active_user_coverage": "Active User Coverage",
    "stickiness": "Stickiness",
    "product_score": "Product Score",
}

# Whether event key k matches rule r.rule: SPEC section 2 (an event name exactly; a page
# path by glob, * spanning '/'), defined once in SQL (health migration 0006).
_KEY_MATCHES_RULE = "vitals_rule_matches(k.kind, k.name, r.rule)"


@dataclass(frozen=True)
class Window:
    """The last 30 days up to the newest computed as-of day, whose daily rows carry their
    events per event key (health_user_day)."""

    start: date
    end: date


def activity_window(*, product: Product) -> Window | None:
    as_of = RollupState.objects.filter(product=product).values_list("state_as_of", flat=True)
    day = as_of.first()
    if day is None:
        return None
    return Window(start=day - timedelta(days=29), end=day)


def rule_preview(*, product: Product, rules: list[dict[str, str]]) -> dict[str, Any]:
    """Events of the last 30 days each rule matches, and the feature's total (an event
    counts once however many of its rules match, as in the engine's feature counts)."""
    window = activity_window(product=product)
    if window is None or not rules:
        return {"window": window, "rules": [(rule, 0) for rule in rules], "total": 0}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH r AS (
                SELECT n, value AS rule
                FROM jsonb_array_elements(%(rules)s::jsonb) WITH ORDINALITY AS x(value, n)
            ),
            matched AS (
                SELECT DISTINCT r.n, k.id AS event_key_id
                FROM ingestion_eventkey k CROSS JOIN r
                WHERE k.product_id = %(product)s AND {_KEY_MATCHES_RULE}
            ),
            key_events AS (
                SELECT u.event_key_id, sum(u.events) AS events
                FROM health_user_day d
                CROSS JOIN LATERAL unnest(d.key_ids, d.key_events) AS u(event_key_id, events)
                WHERE d.product_id = %(product)s AND d.day BETWEEN %(start)s AND %(end)s
                  AND u.event_key_id IN (SELECT event_key_id FROM matched)
                GROUP BY u.event_key_id
            )
            SELECT m.n, sum(ke.events) FROM matched m JOIN key_events ke USING (event_key_id)
            GROUP BY m.n
            UNION ALL
            SELECT 0, sum(events) FROM key_events
            """,
            {
                "rules": json.dumps(rules),
                "product": product.pk,
                "start": window.start,
                "end": window.end,
            },
        )
        counts = {int(n): int(events or 0) for n, events in cursor.fetchall()}
    return {
        "window": window,
        "rules": [(rule, counts.get(n, 0)) for n, rule in enumerate(rules, start=1)],
        "total": counts.get(0, 0),
    }


def unmapped_activity(*, product: Product, limit: int = 20) -> list[dict[str, Any]]:
    """The most frequent event names and page paths of the last 30 days no feature maps."""
    window = activity_window(product=product)
    if window is None:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH r AS (
                SELECT rule FROM health_feature f
                CROSS JOIN LATERAL jsonb_array_elements(f.rules) AS rule
                WHERE f.product_id = %(product)s
            ),
            mapped AS (
                SELECT DISTINCT k.id FROM ingestion_eventkey k CROSS JOIN r
                WHERE k.product_id = %(product)s AND {_KEY_MATCHES_RULE}
            )
            SELECT k.kind, k.name, sum(u.events) AS events, count(DISTINCT d.account_pk)
            FROM health_user_day d
            CROSS JOIN LATERAL unnest(d.key_ids, d.key_events) AS u(event_key_id, events)
            JOIN ingestion_eventkey k ON k.id = u.event_key_id
            WHERE d.product_id = %(product)s AND d.day BETWEEN %(start)s AND %(end)s
              AND u.event_key_id NOT IN (SELECT id FROM mapped)
            GROUP BY k.kind, k.name
            ORDER BY events DESC, k.kind, k.name
            LIMIT %(limit)s
            """,
            {"product": product.pk, "start": window.start, "end": window.end, "limit": limit},
        )
        return [
            {"kind": kind, "name": name, "events": int(events), "accounts": accounts}
            for kind, name, events, accounts in cursor.fetchall()
        ]


def catalog_tree(*, product: Product) -> list[dict[str, Any]]:
    """Modules in tree order (a module's sub-modules under it), each with its features;
    features without a module come first, under path ''."""
    features = list(
        Feature.objects.filter(product=product)
        .select_related("updated_by")
        .order_by("position", "key")
    )
    paths = set(Module.objects.filter(product=product).values_list("path", flat=True))
    for feature in features:
        paths.update(module_ancestors(feature.module_path))
    modules = {path: {"path": path, "features": []} for path in paths}
    loose: list[Feature] = []
    for feature in features:
        (modules[feature.module_path]["features"] if feature.module_path else loose).append(feature)
    module_rows = {
        row.path: row for row in Module.objects.filter(product=product).select_related("updated_by")
    }
    tree = []
    if loose:
        tree.append(
            {
                "path": "",
                "name": "No module",
                "depth": 0,
                "features": loose,
                "module": None,
                "empty": False,
                "feature_count": len(loose),
            }
        )
    for path in sorted(paths, key=lambda item: item.split("/")):
        within = sum(
            1 for f in features if f.module_path == path or f.module_path.startswith(f"{path}/")
        )
        tree.append(
            {
                "path": path,
                "name": path.rsplit("/", 1)[-1],
                "depth": min(path.count("/"), 5),
                "features": modules[path]["features"],
                "module": module_rows.get(path),
                "empty": not within,
                "feature_count": within,  # its sub-modules' features included
            }
        )
    return tree


def catalog_labels(*, product: Product) -> list[str]:
    labels: set[str] = set()
    for feature_labels in Feature.objects.filter(product=product).values_list("labels", flat=True):
        labels.update(feature_labels)
    return sorted(labels, key=str.lower)


def core_item_rows(
    *, items: list[dict[str, str]], features: dict[str, Feature]
) -> list[dict[str, str]]:
    """Core items as the editor shows them: kind, value, a readable name, the form token."""
    rows = []
    for item in items:
        ((kind, value),) = item.items()
        name = value
        if kind == "feature" and value in features:
            name = features[value].name
        rows.append({"kind": kind, "value": value, "name": name, "token": f"{kind}:{value}"})
    return rows


def latest_run(*, product: Product) -> HealthRun | None:
    return HealthRun.objects.filter(product=product).order_by("-queued_at", "-id").first()


def account_settings_page(*, product: Product) -> dict[str, Any]:
    """What the Account Settings page shows besides its form."""
    features = {
        feature.key: feature
        for feature in Feature.objects.filter(product=product).order_by("position", "key")
    }
    return {
        "health_settings": health_settings_for(product=product),
        "features": list(features.values()),
        "features_by_key": features,
        "modules": [row for row in catalog_tree(product=product) if row["path"]],
        "labels": catalog_labels(product=product),
        "run": latest_run(product=product),
        "audit_entries": audit_entries(product=product, limit=10),
        "products": Product.objects.order_by("name"),
    }


def catalog_page(*, product: Product) -> dict[str, Any]:
    tree = catalog_tree(product=product)
    return {
        "tree": tree,
        "module_paths": [row["path"] for row in tree if row["path"]],
        "unmapped": unmapped_activity(product=product),
        "window": activity_window(product=product),
        "run": latest_run(product=product),
        "products": Product.objects.order_by("name"),
    }


def _audit_changes(before: Any, after: Any) -> list[dict[str, str]]:
    """(field, before, after) for each field that differs, values as compact JSON."""

    def show(value: Any) -> str:
        return "–" if value is None else json.dumps(value, ensure_ascii=False)

    if not isinstance(before, dict) and not isinstance(after, dict):
        return [{"field": "", "before": show(before), "after": show(after)}]
    before, after = before or {}, after or {}
    fields = list(after) + [key for key in before if key not in after]
    return [
        {"field": field, "before": show(before.get(field)), "after": show(after.get(field))}
        for field in fields
        if before.get(field) != after.get(field)
    ]


def audit_entries(*, product: Product | None = None, limit: int = 10) -> list[AuditEntry]:
    entries = AuditEntry.objects.select_related("user", "product")
    if product is not None:
        entries = entries.filter(product=product)
    rows = list(entries.order_by("-created_at", "-id")[:limit])
    for entry in rows:
        entry.changes = _audit_changes(entry.before, entry.after)  # type: ignore[attr-defined]
    return rows


def audit_page(*, page: int = 1) -> dict[str, Any]:
    entries = AuditEntry.objects.select_related("user", "product").order_by("-created_at", "-id")
    page_obj = Paginator(entries, PAGE_SIZE).get_page(page)
    for entry in page_obj:
        entry.changes = _audit_changes(entry.before, entry.after)  # type: ignore[attr-defined]
    return {"page": page_obj}
