"""SQL fragments shared by the state layer: core-item arrays and what a pair counts for."""

from __future__ import annotations

from typing import Any

from health.engine.windows import Windows
from health.models import HealthSettings
from vitals.tenancy.models import Product

# Sums per account that come from its (account, user) pairs, and from its days.
PAIR_FIELDS = (
    "mau_w",
    "mau_p",
    "items_w",
    "items_p",
    "history_w",
    "history_p",
    "risk_w",
    "risk_p",
    "users_lifetime",
    "visits_lifetime",
)
DAY_FIELDS = ("dau_w", "dau_p", "wau_w", "wau_p", "visits_w", "visits_p", "seconds_w", "seconds_p")


def state_params(
    product: Product, windows: Windows, settings: HealthSettings, k: int, prefix: str = ""
) -> dict[str, Any]:
    """The windows of D (and the product's settings) as query parameters; `prefix` names
    another day's windows beside them (the previous state's, "o_")."""
    return {
        **{f"{prefix}{name}": value for name, value in windows.params().items()},
        "org": product.organization_id,
        "product": product.pk,
        "tz": product.organization.timezone,
        "k": k,
        "cfu_lower": settings.cfu_lower,
    }


def _bit(item: int) -> tuple[str, int]:
    """Column and signed 64-bit mask of core item `item` (1-based)."""
    column = "core_lo" if item <= 64 else "core_hi"
    bit = 1 << ((item - 1) % 64)
    return column, bit - (1 << 64) if bit >= 1 << 63 else bit


def item_days(k: int, condition: str = "true") -> str:
    """Per core item, the latest day of the rows (meeting `condition`) that used it."""
    terms = [
        f"max(day) FILTER (WHERE {condition} AND ({column} & {mask}) <> 0)"
        for column, mask in (_bit(item) for item in range(1, k + 1))
    ]
    return f"ARRAY[{', '.join(terms)}]::date[]"


def items_merged(k: int, old: str, new: str) -> str:
    """Per core item, the later of two day arrays' entries (NULL counts as never)."""
    terms = [f"greatest({old}[{item}], {new}[{item}])" for item in range(1, k + 1)]
    return f"ARRAY[{', '.join(terms)}]::date[]"


def items_used(k: int, array: str, since: str) -> str:
    """How many entries of a per-item day array are on or after `since`."""
    if k == 0:
        return "0"
    return " + ".join(
        f"(CASE WHEN {array}[{item}] >= {since} THEN 1 ELSE 0 END)" for item in range(1, k + 1)
    )


def at_risk(items: str, history: str) -> str:
    """SPEC section 5: active in H (or H') and user CFU below the CFU lower limit."""
    return (
        f"(%(k)s > 0 AND coalesce({history}, false)"
        f" AND ({items})::float8 / greatest(%(k)s, 1) * 100 < %(cfu_lower)s)"
    )


def contributions(prefix: str, day: str) -> dict[str, str]:
    """What a pair adds to its account's sums: `prefix` names the pair's columns (its
    state as of some day), `day` the parameter prefix of that day's windows."""
    return {
        "mau_w": f"({prefix}last_day >= %({day}w_start)s)",
        "mau_p": f"({prefix}last_day_p >= %({day}p_start)s)",
        "items_w": f"{prefix}items_w",
        "items_p": f"{prefix}items_p",
        "history_w": f"({prefix}last_day >= %({day}h_start)s)",
        "history_p": f"({prefix}last_day_p >= %({day}hp_start)s)",
        "risk_w": f"{prefix}risk_w",
        "risk_p": f"{prefix}risk_p",
        "users_lifetime": f"({prefix}last_day IS NOT NULL)",
        "visits_lifetime": f"{prefix}visits_lifetime",
    }


def as_count(expression: str) -> str:
    """A boolean or number, NULL as 0, summable."""
    return f"coalesce(({expression})::int, 0)"
