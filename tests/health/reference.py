"""A slow, plain-Python reading of ../shared/SPEC.md: the independent oracle for the engine.

Written from the spec's text and the choices recorded in docs/metrics.md, never from
health/engine: loops over messages, `zoneinfo` for local days. It takes Segment messages
(decoded JSON, in arrival order) and a conformance `config.json`, and returns the three
outputs of `export_health` in the shapes of the fixtures' expected files.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

# The export's columns are a file format, not a computation: shared with the engine's export.
from health.exports import ACCOUNT_COLUMNS
from tests.health.reference_messages import (
    Accepted,
    accept,
    nonempty,
    parse_time,
    read_jsonl,
)

__all__ = ["Accepted", "accept", "compute", "fixture_outputs", "read_jsonl", "write_outputs"]

ACTIVITY = {"track", "page", "screen"}
SESSION_GAP = timedelta(minutes=30)
DEFAULT_THRESHOLDS = {
    "core_feature_usage": (30.0, 60.0),
    "active_user_coverage": (40.0, 70.0),
    "stickiness": (15.0, 30.0),
    "product_score": (25.0, 45.0),
}
SCORE_BANDS = ("At Risk", "Neutral", "Healthy")
OTHER_BANDS = ("Low", "Moderate", "High")


# ---------------------------------------------------------------- catalog (SPEC 1, 2)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """`*` matches any run of characters, `/` included; everything else is literal."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def event_path(message: dict) -> str | None:
    properties = message.get("properties") if isinstance(message.get("properties"), dict) else {}
    if nonempty(properties.get("path")):
        return properties["path"]
    context = message.get("context") if isinstance(message.get("context"), dict) else {}
    page = context.get("page") if isinstance(context.get("page"), dict) else {}
    if nonempty(page.get("path")):
        return page["path"]
    if nonempty(properties.get("url")):
        try:
            return urlsplit(properties["url"]).path or "/"  # a bare host is the root page
        except ValueError:
            return None
    return None


def module_chain(module: str | None) -> list[str]:
    """A module and its ancestors: `A/B/C` -> A, A/B, A/B/C."""
    if not module:
        return []
    parts = module.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


@dataclass
class Catalog:
    features: list[dict]
    core_items: list[dict]

    def __post_init__(self) -> None:
        self.rules = [
            (
                feature["key"],
                rule.get("event"),
                glob_regex(rule["page"]) if "page" in rule else None,
            )
            for feature in self.features
            for rule in feature.get("rules", [])
        ]
        self.modules_of = {f["key"]: module_chain(f.get("module")) for f in self.features}
        self.all_modules = sorted({m for chain in self.modules_of.values() for m in chain})
        # each core item as the set of feature keys in it
        self.item_features: list[set[str]] = []
        for item in self.core_items:
            if "feature" in item:
                keys = {f["key"] for f in self.features if f["key"] == item["feature"]}
            elif "module" in item:
                keys = {k for k, chain in self.modules_of.items() if item["module"] in chain}
            else:
                keys = {f["key"] for f in self.features if item["label"] in f.get("labels", [])}
            self.item_features.append(keys)

    def match(self, message: dict) -> frozenset[str]:
        kind = message["type"]
        path = event_path(message) if kind in ("page", "screen") else None
        keys = set()
        for key, event, page in self.rules:
            if event is not None and kind == "track" and message.get("event") == event:
                keys.add(key)
            if page is not None and path is not None and page.fullmatch(path):
                keys.add(key)
        return frozenset(keys)

    def items_used(self, features: Iterable[str]) -> set[int]:
        used = set(features)
        return {i for i, keys in enumerate(self.item_features) if keys & used}


# ---------------------------------------------------------------- the computation


@dataclass
class Activity:
    user: str
    time: datetime
    day: date
    account: str | None
    features: frozenset[str]


@dataclass
class Session:
    user: str
    account: str | None
    day: date
    seconds: float


@dataclass
class Outputs:
    accounts: list[dict[str, Any]]
    summary: dict[str, Any]
    drilldown: dict[str, Any]


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _created_day(value: Any, zone: ZoneInfo) -> date | None:
    if not isinstance(value, str):
        return None
    if len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    moment = parse_time(value)
    return moment.astimezone(zone).date() if moment else None


def band(value: float | None, limits: tuple[float, float], names: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    lower, upper = limits
    return names[0] if value < lower else names[1] if value < upper else names[2]


def compute(
    messages: list[dict],
    config: dict,
    counts: Accepted | None = None,
    *,
    other_products: Iterable[list[dict]] = (),
) -> Outputs:
    """Everything `export_health` writes for a product, from its accepted `messages` (with
    `_time`) and those of the organization's `other_products`: accounts, users and their
    memberships are organization-wide (docs/metrics.md), Last Seen spans the products."""
    zone = ZoneInfo(config["organization"].get("timezone") or "UTC")
    as_of = date.fromisoformat(config["as_of"])
    end_of_d = datetime.combine(as_of + timedelta(days=1), datetime.min.time(), zone)
    settings = config.get("settings", {})
    catalog = Catalog(config.get("features", []), settings.get("core_items", []))
    k = len(catalog.core_items)
    thresholds = {
        name: tuple(float(v) for v in settings.get("thresholds", {}).get(name, default))
        for name, default in DEFAULT_THRESHOLDS.items()
    }
    wau_mode = settings.get("stickiness", "dau") == "wau"

    def local_day(moment: datetime) -> date:
        return moment.astimezone(zone).date()

    ordered = sorted(messages, key=lambda m: m["_time"])  # stable: arrival breaks ties
    others = [m for product in other_products for m in product]
    org_ordered = sorted([*messages, *others], key=lambda m: m["_time"])

    # SPEC 3: memberships (every one known, dated after D too: docs/metrics.md)
    memberships: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for m in org_ordered:
        if not nonempty(m.get("userId")):
            continue
        if m["type"] == "group":
            memberships[m["userId"]].append((m["_time"], m["groupId"]))
        elif m["type"] == "identify":
            traits = m.get("traits") if isinstance(m.get("traits"), dict) else {}
            if nonempty(traits.get("accountId")):
                memberships[m["userId"]].append((m["_time"], traits["accountId"]))

    def context_group(m: dict) -> str | None:
        context = m.get("context") if isinstance(m.get("context"), dict) else {}
        group = context.get("groupId")
        return group if nonempty(group) else None

    def attribute(m: dict) -> str | None:
        if (group := context_group(m)) is not None:
            return group
        joined = memberships.get(m["userId"], [])
        before = [account for at, account in joined if at <= m["_time"]]
        if before:
            return before[-1]
        return joined[0][1] if joined else None

    # An account's traits: every group call known, merged in event-time order, dated
    # after D too (the CRM's current name and status, as memberships are; SPEC is silent).
    traits: dict[str, dict[str, Any]] = defaultdict(dict)
    for m in org_ordered:
        if m["type"] == "group" and isinstance(m.get("traits"), dict):
            traits[m["groupId"]].update(m["traits"])
    # accounts known by the end of D and the day of the first message naming them
    first_day: dict[str, date] = {}
    members_by_d: set[str] = set()
    for m in org_ordered:
        if m["_time"] >= end_of_d:
            continue
        named = []
        if m["type"] == "group":
            named.append(m["groupId"])
        elif m["type"] == "identify":
            accounts = m.get("traits") if isinstance(m.get("traits"), dict) else {}
            if nonempty(accounts.get("accountId")):
                named.append(accounts["accountId"])
        if m["type"] in ACTIVITY and (group := context_group(m)) is not None:
            named.append(group)
        for account in named:
            first_day.setdefault(account, local_day(m["_time"]))
        if named and nonempty(m.get("userId")):
            members_by_d.add(m["userId"])
    known = sorted(first_day)

    activity = [
        Activity(
            user=m["userId"],
            time=m["_time"],
            day=local_day(m["_time"]),
            account=attribute(m),
            features=catalog.match(m),
        )
        for m in ordered
        if m["type"] in ACTIVITY and nonempty(m.get("userId")) and m["_time"] < end_of_d
    ]

    # Last Seen: the latest activity of the account in any of the organization's products
    last_elsewhere: dict[str, datetime] = {}
    for m in others:
        if m["type"] in ACTIVITY and nonempty(m.get("userId")) and m["_time"] < end_of_d:
            account = attribute(m)
            if account is not None:
                last_elsewhere[account] = max(m["_time"], last_elsewhere.get(account, m["_time"]))

    # SPEC 5, Sessions: per user over all accounts, split at gaps of 30 minutes or more
    sessions: list[Session] = []
    by_user: dict[str, list[Activity]] = defaultdict(list)
    for event in activity:
        by_user[event.user].append(event)
    for events in by_user.values():
        start = last = events[0]
        for event in events[1:]:
            if event.time - last.time >= SESSION_GAP:
                sessions.append(_session(start, last))
                start = event
            last = event
        sessions.append(_session(start, last))

    windows = {
        "W": (as_of - timedelta(days=29), as_of),
        "P": (as_of - timedelta(days=59), as_of - timedelta(days=30)),
    }
    history = {
        "W": (as_of - timedelta(days=179), as_of),
        "P": (as_of - timedelta(days=209), as_of - timedelta(days=30)),
    }

    def current_account(user: str) -> str | None:
        dated = [account for at, account in memberships.get(user, []) if at < end_of_d]
        return dated[-1] if dated else None

    rows: list[dict[str, Any]] = []
    drilldown: dict[str, Any] = {}
    at_risk_users: dict[str, set[str]] = {"W": set(), "P": set()}
    metrics: dict[str, dict[str, dict[str, Any]]] = {}
    for account in known:
        mine = [e for e in activity if e.account == account]
        my_sessions = [s for s in sessions if s.account == account]
        values: dict[str, dict[str, Any]] = {}
        for window in ("W", "P"):
            start, end = windows[window]
            h_start, h_end = history[window]
            in_x = [e for e in mine if start <= e.day <= end]
            users = {e.user for e in in_x}
            mau = len(users)
            days_of: dict[date, set[str]] = defaultdict(set)
            for e in mine:
                days_of[e.day].add(e.user)
            dau = sum(len(days_of[d]) for d in _days(start, end)) / 30
            wau = (
                sum(
                    len(set().union(*(days_of[d - timedelta(days=n)] for n in range(7))))
                    for d in _days(start, end)
                )
                / 30
            )
            stickiness = None if mau == 0 else (wau if wau_mode else dau) / mau * 100
            used: dict[str, set[int]] = defaultdict(set)
            for e in in_x:
                used[e.user] |= catalog.items_used(e.features)
            cfu = None if mau == 0 or k == 0 else sum(len(used[u]) for u in users) / mau / k * 100
            history_users = {e.user for e in mine if h_start <= e.day <= h_end}
            coverage = None if not history_users else mau / len(history_users) * 100
            score = None if cfu is None or stickiness is None else (cfu + stickiness) / 2
            risky = (
                set()
                if k == 0
                else {
                    u
                    for u in history_users
                    if len(used[u]) / k * 100 < thresholds["core_feature_usage"][0]
                }
            )
            at_risk_users[window] |= risky
            visits = [s for s in my_sessions if start <= s.day <= end]
            if score is not None:
                health = band(score, thresholds["product_score"], SCORE_BANDS)
            elif mau == 0:
                health = "Inactive"
            else:
                health = "Not configured"
            values[window] = {
                "mau": mau,
                "dau": dau,
                "wau": wau,
                "stickiness": stickiness,
                "cfu": cfu,
                "coverage": coverage,
                "score": score,
                "health": health,
                "risk": len(risky),
                "visits": len(visits),
                "seconds": (sum(s.seconds for s in visits) / len(visits) if visits else None),
                "used": used,
                "history_users": history_users,
            }
        metrics[account] = values
        w, p = values["W"], values["P"]
        times = [e.time for e in mine]
        account_traits = traits[account]
        created = _created_day(account_traits.get("createdAt"), zone) or first_day[account]
        rows.append(
            {
                "account_id": account,
                "name": account_traits.get("name"),
                "active_users": w["mau"],
                "active_users_prev": p["mau"],
                "stickiness": w["stickiness"],
                "stickiness_prev": p["stickiness"],
                "core_feature_usage": w["cfu"],
                "core_feature_usage_prev": p["cfu"],
                "active_user_coverage": w["coverage"],
                "active_user_coverage_prev": p["coverage"],
                "product_score": w["score"],
                "product_score_prev": p["score"],
                "health": w["health"],
                "health_prev": p["health"],
                "users_at_risk": w["risk"],
                "users_at_risk_prev": p["risk"],
                "visits": w["visits"],
                "visits_prev": p["visits"],
                "avg_session_seconds": w["seconds"],
                "users_lifetime": len({e.user for e in mine}),
                "visits_lifetime": len(my_sessions),
                "product_first_seen": min(times) if times else None,
                "product_last_seen": max(times) if times else None,
                "avg_dau": w["dau"],
                "avg_dau_prev": p["dau"],
                "avg_wau": w["wau"],
                "avg_wau_prev": p["wau"],
                "avg_session_seconds_prev": p["seconds"],
                "last_seen": max(
                    [*times, *([last_elsewhere[account]] if account in last_elsewhere else [])],
                    default=None,
                ),
                "created_date": created,
                "_lead": str(account_traits.get("status", "")).lower() in ("lead", "prospect"),
            }
        )
        drilldown[account] = _drilldown(
            account=account,
            events=mine,
            sessions=my_sessions,
            window=windows["W"],
            used=w["used"],
            history_users=w["history_users"],
            current_account=current_account,
            catalog=catalog,
        )

    summary: dict[str, Any] = {"as_of": as_of.isoformat(), "total_accounts": len(known)}
    summary["total_users"] = len(members_by_d)
    if counts is not None:
        summary |= {
            "messages_accepted": counts.accepted,
            "messages_rejected": counts.rejected,
            "messages_duplicate": counts.duplicate,
        }
    for window, suffix in (("W", ""), ("P", "_prev")):
        start, end = windows[window]
        active = [a for a in known if metrics[a][window]["mau"] > 0]
        summary[f"active_accounts{suffix}"] = len(active)
        summary[f"accounts_at_risk{suffix}"] = sum(
            1 for a in active if metrics[a][window]["health"] == "At Risk"
        )
        summary[f"users_at_risk{suffix}"] = len(at_risk_users[window])
        new = [row for row in rows if start <= row["created_date"] <= end]
        summary[f"new_accounts{suffix}"] = len(new)
        summary[f"new_leads{suffix}"] = sum(1 for row in new if row["_lead"])
    distribution: dict[str, Any] = {}
    active = [a for a in known if metrics[a]["W"]["mau"] > 0]
    for name, key, names in (
        ("product_score", "score", SCORE_BANDS),
        ("core_feature_usage", "cfu", OTHER_BANDS),
        ("active_user_coverage", "coverage", OTHER_BANDS),
        ("stickiness", "stickiness", OTHER_BANDS),
    ):
        values_w = [metrics[a]["W"][key] for a in active if metrics[a]["W"][key] is not None]
        counts_by_band = dict.fromkeys(names, 0)
        for value in values_w:
            counts_by_band[band(value, thresholds[name], names)] += 1
        distribution[name] = {
            **counts_by_band,
            "mean": sum(values_w) / len(values_w) if values_w else None,
        }
    summary["health"] = distribution
    for row in rows:
        del row["_lead"]
    return Outputs(accounts=rows, summary=summary, drilldown=drilldown)


def _session(first: Activity, last: Activity) -> Session:
    return Session(
        user=first.user,
        account=first.account,
        day=first.day,
        seconds=(last.time - first.time).total_seconds(),
    )


def _drilldown(
    *,
    account: str,
    events: list[Activity],
    sessions: list[Session],
    window: tuple[date, date],
    used: dict[str, set[int]],
    history_users: set[str],
    current_account: Any,
    catalog: Catalog,
) -> dict[str, Any]:
    """SPEC 8, for account `account` in W."""
    start, end = window
    in_w = [e for e in events if start <= e.day <= end]
    core_features = set().union(*catalog.item_features) if catalog.item_features else set()
    members = [u for u in history_users if current_account(u) == account]
    core_events = defaultdict(int)
    for e in in_w:
        if e.features & core_features:
            core_events[e.user] += 1
    visits = defaultdict(int)
    for s in sessions:
        if start <= s.day <= end:
            visits[s.user] += 1
    by_core = sorted(members, key=lambda u: (-len(used[u]), -core_events[u], u))
    by_visits = sorted(members, key=lambda u: (-visits[u], u))
    feature_counts = {f["key"]: 0 for f in catalog.features}
    module_counts = dict.fromkeys(catalog.all_modules, 0)
    for e in in_w:
        for key in e.features:
            feature_counts[key] += 1
        for module in {m for key in e.features for m in catalog.modules_of[key]}:
            module_counts[module] += 1
    features = sorted(feature_counts.items(), key=lambda kv: (-kv[1], kv[0]))
    modules = sorted(module_counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "top_users_by_core": by_core,
        "top_users_by_visits": by_visits,
        "features": [[key, count] for key, count in features],
        "modules": [[key, count] for key, count in modules],
        "zero_usage_features": sorted(key for key, count in features if count == 0),
        "zero_usage_modules": sorted(key for key, count in modules if count == 0),
    }


# ---------------------------------------------------------------- files


def format_cell(value: Any) -> str:
    """SPEC 9: nulls empty, timestamps UTC with Z (milliseconds), floats unrounded."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def write_outputs(outputs: Outputs, out: Path, *, prefix: str = "") -> None:
    """The three files, named as `export_health` names them (prefix "expected_" for the
    fixture's names, so `health.conformance.compare_outputs` can read them as expected)."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / f"{prefix}accounts.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(ACCOUNT_COLUMNS)
        for row in outputs.accounts:
            writer.writerow([format_cell(row[column]) for column in ACCOUNT_COLUMNS])
    (out / f"{prefix}summary.json").write_text(json.dumps(outputs.summary, indent=1))
    (out / f"{prefix}drilldown.json").write_text(json.dumps(outputs.drilldown, indent=1))


def fixture_outputs(fixture: Path, *, received_at: datetime | None = None) -> Outputs:
    """The reference's outputs for a conformance folder (events.jsonl + config.json)."""
    config = json.loads((fixture / "config.json").read_text())
    counted = accept(read_jsonl(fixture / "events.jsonl"), received_at or datetime.now(UTC))
    return compute(counted.messages, config, counted)
