from __future__ import annotations

import json
from datetime import date, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import orjson
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from health.conformance import fixture_dirs
from ingestion.services import RawItem, messages_ingest
from vitals.tenancy.models import Product
from vitals.tenancy.services import organization_create, product_create


def fixture(name: str) -> Path:
    return next(path for path in fixture_dirs() if path.name == name)


def fixture_config(name: str) -> dict[str, Any]:
    return json.loads((fixture(name) / "config.json").read_text())


def command(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def ingest_file(path: Path, org: str, product: str) -> str:
    return command("ingest_events", str(path), "--org", org, "--product", product, "--no-progress")


def compute(org: str, product: str, as_of: date | str, *, full: bool = False) -> None:
    args = ["compute_health", "--org", org, "--product", product, "--as-of", str(as_of)]
    command(*args, *(["--full"] if full else []))


def health_snapshot(product_id: int, as_of: date | str) -> list[tuple]:
    """Every computed value of every account row and the portfolio, comparable as data."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT to_jsonb(h) - 'id' - 'computed_at' FROM health_accounthealth h
            WHERE product_id = %s AND as_of = %s ORDER BY account_id
            """,
            [product_id, as_of],
        )
        rows = [canonical(json.loads(row[0])) for row in cursor.fetchall()]
        cursor.execute(
            "SELECT summary FROM health_portfoliohealth WHERE product_id = %s AND as_of = %s",
            [product_id, as_of],
        )
        summary = cursor.fetchone()
    return [*rows, canonical(json.loads(summary[0])) if summary else None]


def canonical(value: Any) -> str:
    """JSON text with numbers rounded well inside the spec's 1e-6: sums and means may
    differ in their last bits with the order a plan adds them in (a mean of 7 can come
    back as 7 or 7.000000000000001, so every number is compared as a float)."""

    def rounded(item: Any) -> Any:
        if isinstance(item, int | float) and not isinstance(item, bool):
            return round(float(item), 9)
        if isinstance(item, dict):
            return {key: rounded(val) for key, val in item.items()}
        if isinstance(item, list):
            return [rounded(val) for val in item]
        return item

    return json.dumps(rounded(value), sort_keys=True)


def stored_events(product_id: int) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT message_id, type, event_time, user_pk, account_pk, event_key_id, raw::text
            FROM ingestion_event WHERE product_id = %s ORDER BY message_id
            """,
            [product_id],
        )
        return cursor.fetchall()


AS_OF = date(2026, 6, 14)


def org_product(slug: str, timezone_name: str) -> Product:
    organization = organization_create(slug=slug, name=slug.upper(), timezone_name=timezone_name)
    return product_create(organization=organization, key="app", name=f"{slug} app")


def ingest_activity(product: Product) -> None:
    """Two users of one account, active on a few days before AS_OF."""
    messages: list[dict] = [
        {
            "type": "group",
            "userId": user,
            "groupId": "acc-1",
            "messageId": f"g-{user}",
            "timestamp": "2026-06-01T09:00:00Z",
        }
        for user in ("u1", "u2")
    ]
    messages += [
        {
            "type": "track",
            "userId": user,
            "event": "Report Exported",
            "messageId": f"t-{user}-{day}",
            "timestamp": f"2026-06-{day:02d}T10:00:00Z",
        }
        for user in ("u1", "u2")
        for day in (2, 5, 9, 13)
    ]
    items = [
        RawItem(index=i, message=message, raw=orjson.dumps(message))
        for i, message in enumerate(messages)
    ]
    result = messages_ingest(
        product=product, items=items, received_at=timezone.now(), source="test"
    )
    assert result.accepted == len(messages)


def subprocess_database_url() -> str:
    """The pytest-django test database, for subprocesses that must see the test's rows."""
    from urllib.parse import quote

    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    credentials = f"{user}{password}@" if user else ""
    host = db["HOST"] or ""
    if host.startswith("/"):  # a socket directory
        return f"postgres://{credentials}/{db['NAME']}?host={quote(host, safe='')}"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}{host}{port}/{db['NAME']}"


def basic_computed(as_of: str = "2026-10-31") -> Product:
    """The `basic` conformance fixture imported, ingested and computed as of `as_of`."""
    command("import_config", str(fixture("basic") / "config.json"))
    ingest_file(fixture("basic") / "events.jsonl", "basic", "app")
    compute("basic", "app", as_of)
    return Product.dangerously_unscoped.get(organization__slug="basic", key="app")


def ingest_late_group(tmp_path: Path, *, message_id: str) -> str:
    """u_00001 joins acc_0009 early in the window, arriving late: it re-attributes their
    activity from that moment until their next membership."""
    late = tmp_path / f"{message_id}.jsonl"
    message = {
        "type": "group",
        "userId": "u_00001",
        "groupId": "acc_0009",
        "timestamp": "2026-10-20T00:00:00Z",
        "messageId": message_id,
    }
    late.write_text(json.dumps(message) + "\n")
    return ingest_file(late, "basic", "app")


def rollup_tables(product_id: int, as_of: date) -> dict[str, list]:
    """Every row the engine keeps for the product, comparable across runs (float sums
    rounded: a different order of addition may move the last bits). Daily rows up to D
    (a run for an older day leaves later rows for the run that reaches them), per-key
    counts in W: the only rows and days anything reads for D."""
    w_start = as_of - timedelta(days=29)
    queries = {
        "user_day": "SELECT day, account_pk, user_pk, events, core_lo, core_hi, core_events,"
        " first_at, last_at, with_context_group, visits, session_seconds,"
        f" CASE WHEN day >= '{w_start}' THEN key_ids END,"
        f" CASE WHEN day >= '{w_start}' THEN key_events END"
        " FROM health_user_day WHERE product_id = %s"
        f" AND day <= '{as_of}' ORDER BY day, account_pk, user_pk",
        "session": "SELECT user_pk, account_pk, day, started_at, ended_at, events"
        " FROM health_session WHERE product_id = %s ORDER BY user_pk, started_at",
        "pair": "SELECT * FROM health_pair_state WHERE product_id = %s"
        " ORDER BY account_pk, user_pk",
        "account_day": "SELECT day, account_pk, dau, wau, visits, seconds"
        " FROM health_account_day WHERE product_id = %s ORDER BY day, account_pk",
        # usage days before W may linger in the incremental state: they mean "not in W"
        "account": "SELECT account_pk, mau_w, mau_p, items_w, items_p, history_w, history_p,"
        " risk_w, risk_p, users_lifetime, dau_w, dau_p, wau_w, wau_p, visits_w, visits_p,"
        " seconds_w, seconds_p, visits_lifetime, first_at, last_at,"
        f" ARRAY(SELECT CASE WHEN u >= '{w_start}' THEN u END FROM unnest(feature_last) u),"
        f" ARRAY(SELECT CASE WHEN u >= '{w_start}' THEN u END FROM unnest(module_last) u)"
        " FROM health_account_state WHERE product_id = %s ORDER BY account_pk",
    }
    tables = {}
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            cursor.execute(sql, [product_id])
            tables[name] = [tuple(_comparable(value) for value in row) for row in cursor.fetchall()]
    return tables


def _comparable(value: object) -> object:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, list):  # usage arrays: no entry and none in W are alike
        while value and value[-1] is None:
            value = value[:-1]
        return tuple(value)
    return value
