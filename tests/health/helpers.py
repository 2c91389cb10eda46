from __future__ import annotations

import json
from datetime import date
from io import StringIO
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.db import connection

from health.conformance import fixture_dirs


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
        rows = [_canonical(json.loads(row[0])) for row in cursor.fetchall()]
        cursor.execute(
            "SELECT summary FROM health_portfoliohealth WHERE product_id = %s AND as_of = %s",
            [product_id, as_of],
        )
        summary = cursor.fetchone()
    return [*rows, _canonical(json.loads(summary[0])) if summary else None]


def _canonical(value: Any) -> str:
    """JSON text with floats rounded well inside the spec's 1e-6: sums and means may
    differ in their last bits with the order a plan adds them in."""

    def rounded(item: Any) -> Any:
        if isinstance(item, float):
            return round(item, 9)
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
