"""Which core items each event key counts for, and the fingerprint of what decides it.

Core items are numbered 1..k in the order of the product's settings; an event key's items
are a 128-bit mask split in two bigints (k <= 100). Matching is SPEC section 2 through the
SQL function `vitals_rule_matches`, the same one the rule preview and user page use.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from django.db import connection

from health.models import Feature, HealthSettings, Module
from vitals.tenancy.models import Product

# A feature's events count for an item that names the feature, its module or an ancestor
# module of it, or one of its labels.
CORE_ITEMS_OF_KEYS_SQL = """
WITH feature_keys AS (
    SELECT DISTINCT k.id AS event_key_id, f.id AS feature_id
    FROM ingestion_eventkey k
    JOIN health_feature f ON f.product_id = k.product_id
    CROSS JOIN LATERAL jsonb_array_elements(f.rules) AS rule
    WHERE k.product_id = %(product)s
      AND vitals_rule_matches(k.kind, k.name, rule)
),
core_items AS (
    SELECT item.ordinality AS item, item.value AS spec
    FROM jsonb_array_elements(%(core_items)s::jsonb) WITH ORDINALITY AS item
),
core_features AS (
    SELECT DISTINCT c.item, f.id AS feature_id
    FROM core_items c
    JOIN health_feature f ON f.product_id = %(product)s AND (
        f.key = c.spec->>'feature'
        OR f.module_path = c.spec->>'module'
        OR starts_with(f.module_path, (c.spec->>'module') || '/')
        OR (c.spec->>'label') = ANY(f.labels))
)
SELECT DISTINCT fk.event_key_id, cf.item
FROM feature_keys fk JOIN core_features cf USING (feature_id)
ORDER BY 1, 2
"""


@dataclass(frozen=True)
class CoreMap:
    """Event key id -> (bits of items 1..64, bits of items 65..128), for keys in any item."""

    k: int
    masks: dict[int, tuple[int, int]]

    def arrays(self) -> dict[str, object]:
        """Dense arrays indexed by event key id (custom lower bound), for `key_lo[e.id]`:
        a subscript is cheaper per event than a join, and an id outside is NULL."""
        if not self.masks:
            return {"key_lo": "{}", "key_hi": "{}"}
        first, last = min(self.masks), max(self.masks)
        lo = [self.masks.get(key, (0, 0))[0] for key in range(first, last + 1)]
        hi = [self.masks.get(key, (0, 0))[1] for key in range(first, last + 1)]
        return {
            "key_lo": f"[{first}:{last}]={{{','.join(map(str, lo))}}}",
            "key_hi": f"[{first}:{last}]={{{','.join(map(str, hi))}}}",
        }


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def core_map_for(*, product: Product, settings: HealthSettings) -> CoreMap:
    with connection.cursor() as cursor:
        cursor.execute(
            CORE_ITEMS_OF_KEYS_SQL,
            {"product": product.pk, "core_items": json.dumps(settings.core_items)},
        )
        rows = cursor.fetchall()
    bits: dict[int, int] = {}
    for key_id, item in rows:
        bits[key_id] = bits.get(key_id, 0) | (1 << (item - 1))
    masks = {
        key_id: (_signed64(mask & ((1 << 64) - 1)), _signed64(mask >> 64))
        for key_id, mask in bits.items()
    }
    return CoreMap(k=len(settings.core_items), masks=masks)


def rollup_signature(*, product: Product, settings: HealthSettings) -> str:
    """Fingerprint of what the rollups were computed with: "<catalog>:<CFU lower limit>".
    The catalog's matching and the core items decide the daily rows' core masks (and the
    usage arrays are by catalog position): when they change, the next run rebuilds from
    the events. The CFU lower limit decides the states' at-risk counts: when it changes,
    the states are rebuilt from the daily rows. Other thresholds only change evaluate.py's
    bands, which every run computes."""
    features = list(
        Feature.objects.filter(product=product)
        .order_by("key")
        .values_list("key", "module_path", "labels", "rules")
    )
    modules = list(Module.objects.filter(product=product).order_by("path").values_list("path"))
    payload = json.dumps([settings.core_items, features, modules], sort_keys=True, default=str)
    return f"{hashlib.sha256(payload.encode()).hexdigest()[:40]}:{settings.cfu_lower!r}"


# The catalog over the product's event keys (SPEC section 2): feature_keys(event_key_id,
# feature) for every feature with a rule matching the key; module_keys(event_key_id,
# module) for every module holding such a feature, itself or in a sub-module. A CTE body
# for `WITH`; needs %(product)s.
CATALOG_KEYS_CTE = """
feature_keys AS (
    SELECT DISTINCT k.id AS event_key_id, f.key AS feature
    FROM ingestion_eventkey k
    JOIN health_feature f ON f.product_id = k.product_id
    CROSS JOIN LATERAL jsonb_array_elements(f.rules) AS rule
    WHERE k.product_id = %(product)s AND vitals_rule_matches(k.kind, k.name, rule)
),
module_keys AS (
    SELECT DISTINCT fk.event_key_id, m.path AS module
    FROM feature_keys fk
    JOIN health_feature f ON f.product_id = %(product)s AND f.key = fk.feature
    JOIN health_module m ON m.product_id = %(product)s
        AND (f.module_path = m.path OR starts_with(f.module_path, m.path || '/'))
)
"""
