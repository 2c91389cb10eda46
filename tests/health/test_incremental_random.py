"""Randomized traffic, arriving late and out of order, computed night after night: every
incremental run equals a full rebuild of the same day, in every table the engine keeps.

Each scenario draws users, accounts, memberships (moves, late `group` calls), events with
and without context.groupId and sessions across midnight, in a time zone with daylight
saving or a 45-minute offset; then it walks as-of days forward by one, by several, on the
same day again, past the states' horizon and backwards. After each incremental run a full
rebuild of the same day runs in a savepoint that is rolled back, so the next night goes on
from the incremental state.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import transaction

from health.services import health_compute
from ingestion.services import RawItem, messages_ingest
from tests.health.helpers import health_snapshot, rollup_tables
from vitals.tenancy.models import Product
from vitals.tenancy.scope import tenant_scope

START = date(2026, 1, 5)
TRACKS = ["Report Created", "Report Exported", "Widget Added", "Invite Sent", "Searched"]
PAGES = ["/reports/1", "/reports/2/edit", "/dashboards/main", "/settings", "/billing"]
CONFIG = {
    "features": [
        {"key": "report_create", "module": "Reports", "rules": [{"event": "Report Created"}]},
        {
            "key": "report_export",
            "module": "Reports/Exports",
            "labels": ["core"],
            "rules": [{"event": "Report Exported"}],
        },
        {"key": "report_view", "module": "Reports", "rules": [{"page": "/reports/*"}]},
        {"key": "widget_add", "module": "Dashboards/Widgets", "rules": [{"event": "Widget Added"}]},
        {"key": "dash_view", "module": "Dashboards", "rules": [{"page": "/dashboards/*"}]},
        {"key": "invite", "labels": ["core"], "rules": [{"event": "Invite Sent"}]},
        {"key": "settings", "module": "Admin", "rules": [{"page": "/settings"}]},
    ],
    "settings": {
        "core_items": [{"module": "Reports"}, {"label": "core"}, {"feature": "dash_view"}],
    },
}
# (as-of day, messages arrived by the end of day), as offsets from START: forward by one,
# the same day again after late data, a few days at once, past the states' 60-day horizon
# (rebuild), backwards (rebuild), forward again.
STEPS = [
    (40, 40),
    (41, 41),
    (41, 44),
    (45, 45),
    (46, 46),
    (80, 80),
    (150, 150),
    (120, 160),
    (121, 160),
]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def traffic(rng: random.Random) -> list[tuple[datetime, dict]]:
    """(arrival time, message) pairs over 160 days."""
    messages: list[tuple[datetime, dict]] = []
    accounts = [f"acc_{n}" for n in range(5)]
    counter = 0

    def add(arrival: datetime, message: dict) -> None:
        nonlocal counter
        counter += 1
        messages.append((arrival, {"messageId": f"m-{counter}", **message}))

    origin = datetime.combine(START, datetime.min.time(), UTC)
    for n in range(14):
        user = f"user_{n}"
        joined = origin + timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 23))
        home = rng.choice(accounts)
        # Some group calls arrive days after the user's first events.
        late = timedelta(days=rng.choice([0, 0, 0, 3, 20]))
        add(
            joined + late,
            {
                "type": "group",
                "userId": user,
                "groupId": home,
                "timestamp": _iso(joined),
                "traits": {"name": home.upper(), "status": rng.choice(["customer", "lead"])},
            },
        )
        if rng.random() < 0.3:  # moves to another account later
            moved = joined + timedelta(days=rng.randint(10, 90))
            add(
                moved + timedelta(days=rng.choice([0, 5])),
                {
                    "type": "group",
                    "userId": user,
                    "groupId": rng.choice(accounts),
                    "timestamp": _iso(moved),
                },
            )
        first = joined - timedelta(days=rng.choice([0, 0, 2]))  # events before the group call
        for _ in range(rng.randint(5, 25)):
            # A session: events minutes apart, sometimes across midnight.
            at = first + timedelta(days=rng.randint(0, 150), minutes=rng.randint(0, 1439))
            for _ in range(rng.randint(1, 6)):
                message: dict = {"userId": user, "timestamp": _iso(at)}
                if rng.random() < 0.5:
                    message |= {"type": "track", "event": rng.choice(TRACKS)}
                else:
                    message |= {"type": "page", "properties": {"path": rng.choice(PAGES)}}
                if rng.random() < 0.05:
                    message["context"] = {"groupId": rng.choice(accounts)}
                delay = timedelta(hours=rng.choice([1, 1, 1, 30, 24 * 12]))
                add(at + delay, message)
                at += timedelta(minutes=rng.choice([1, 5, 20, 29, 31, 45]))
    # A user moved on day 38 whose group call arrives on day 43, after nights that counted
    # their days 38-41 for the old account: a late re-attribution that takes activity away.
    mover = {"userId": "mover", "type": "track", "event": "Invite Sent"}
    add(
        origin + timedelta(days=2),
        {
            **mover,
            "type": "group",
            "groupId": "acc_0",
            "timestamp": _iso(origin + timedelta(days=2)),
        },
    )
    for day in range(30, 51):
        at = origin + timedelta(days=day, hours=rng.randint(1, 22))
        add(at + timedelta(hours=1), {**mover, "timestamp": _iso(at)})
    moved = origin + timedelta(days=38)
    add(
        origin + timedelta(days=43),
        {**mover, "type": "group", "groupId": "acc_1", "timestamp": _iso(moved)},
    )
    return sorted(messages, key=lambda pair: pair[0])


def _first_difference(left: list, right: list) -> str:
    for a, b in zip(left, right, strict=False):
        if a != b:
            if isinstance(a, str) and isinstance(b, str):
                a_dict, b_dict = json.loads(a), json.loads(b)
                keys = sorted(k for k in {*a_dict, *b_dict} if a_dict.get(k) != b_dict.get(k))
                if keys:
                    return "; ".join(f"{k}: {a_dict.get(k)} != {b_dict.get(k)}" for k in keys)
                at = next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)
                return f"...{a[max(0, at - 60) : at + 20]} != ...{b[max(0, at - 60) : at + 20]}"
            return f"{a} != {b}"
    return f"{len(left)} rows != {len(right)} rows"


class _RolledBack(Exception):
    pass


def full_rebuild_snapshot(product: Product, as_of: date) -> tuple[list, dict]:
    try:
        with transaction.atomic():
            health_compute(product=product, as_of=as_of, full=True)
            snapshot = (health_snapshot(product.pk, as_of), rollup_tables(product.pk, as_of))
            raise _RolledBack
    except _RolledBack:
        return snapshot


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("seed", "timezone"),
    [(1, "UTC"), (2, "America/New_York"), (3, "Asia/Kathmandu"), (4, "Australia/Lord_Howe")],
)
def test_it_equals_a_full_rebuild_every_night(seed, timezone):
    from health.catalog import config_import

    rng = random.Random(seed)
    product = config_import(
        data={
            "organization": {"slug": f"rand{seed}", "name": "Random", "timezone": timezone},
            "product": {"key": "app", "name": "App"},
            "features": CONFIG["features"],
            "settings": {**CONFIG["settings"], "stickiness": "wau" if seed % 2 else "dau"},
        }
    )
    product = Product.dangerously_unscoped.select_related("organization").get(pk=product.pk)
    pending = traffic(rng)
    with tenant_scope(product.organization, product):
        for step, arrived_by in STEPS:
            as_of = START + timedelta(days=step)
            horizon = datetime.combine(
                START + timedelta(days=arrived_by + 1), datetime.min.time(), UTC
            )
            arrived = [message for at, message in pending if at < horizon]
            pending = [(at, message) for at, message in pending if at >= horizon]
            rng.shuffle(arrived)  # a batch arrives in any order
            messages_ingest(
                product=product,
                items=[
                    RawItem(index=i, message=m, raw=json.dumps(m).encode())
                    for i, m in enumerate(arrived)
                ],
                received_at=horizon,
                source="api",
            )
            health_compute(product=product, as_of=as_of)
            incremental = (health_snapshot(product.pk, as_of), rollup_tables(product.pk, as_of))
            full = full_rebuild_snapshot(product, as_of)
            difference = _first_difference(incremental[0], full[0])
            assert incremental[0] == full[0], (
                f"KPIs differ as of {as_of} (seed {seed}): {difference}"
            )
            for table in full[1]:
                assert incremental[1][table] == full[1][table], (
                    f"{table} differs as of {as_of} (seed {seed})"
                )
            assert incremental[0][-1] is not None
