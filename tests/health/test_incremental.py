"""The nightly incremental run equals a full rebuild, also after a late `group` call."""

from __future__ import annotations

import json
from datetime import date

import pytest
from django.db import connection

from tests.health.helpers import (
    basic_computed,
    command,
    compute,
    fixture,
    health_snapshot,
    ingest_file,
    ingest_late_group,
    rollup_tables,
)
from vitals.tenancy.models import Product

AS_OF = "2026-10-31"


@pytest.mark.django_db
def test_it_gives_the_same_rows_incrementally_as_a_full_rebuild_after_a_late_group(tmp_path):
    product = basic_computed(AS_OF)
    before = health_snapshot(product.pk, AS_OF)
    assert "accepted 1" in ingest_late_group(tmp_path, message_id="late-group-1")
    compute("basic", "app", AS_OF)
    incremental = health_snapshot(product.pk, AS_OF)
    compute("basic", "app", AS_OF, full=True)
    full = health_snapshot(product.pk, AS_OF)

    assert incremental == full
    assert incremental != before, "the late group call should have changed some numbers"


@pytest.mark.django_db
def test_it_matches_a_full_rebuild_when_data_arrives_day_by_day(tmp_path):
    """Nightly runs as the days go by, with events arriving late, equal a full rebuild."""
    source = fixture("basic")
    lines = [line for line in (source / "events.jsonl").read_text().splitlines() if line]

    def timestamp(line: str) -> str:
        try:
            message = json.loads(line)
            return str(message.get("timestamp") or message.get("originalTimestamp") or "")
        except (ValueError, AttributeError):
            return ""

    early = [line for line in lines if timestamp(line) < "2026-10-20"]
    late = [line for line in lines if timestamp(line) >= "2026-10-20"]
    # A session that spans midnight and is completed by an event that arrives later.
    early.append(
        json.dumps(
            {
                "type": "track",
                "userId": "u_00001",
                "event": "Report Created",
                "timestamp": "2026-10-19T23:50:00Z",
                "messageId": "span-1",
            }
        )
    )
    late.append(
        json.dumps(
            {
                "type": "track",
                "userId": "u_00001",
                "event": "Report Created",
                "timestamp": "2026-10-20T00:10:00Z",
                "messageId": "span-2",
            }
        )
    )
    (tmp_path / "early.jsonl").write_text("\n".join(early) + "\n")
    (tmp_path / "late.jsonl").write_text("\n".join(late) + "\n")

    command("import_config", str(source / "config.json"))
    product = Product.dangerously_unscoped.get(organization__slug="basic", key="app")
    ingest_file(tmp_path / "early.jsonl", "basic", "app")
    compute("basic", "app", "2026-10-19")
    ingest_file(tmp_path / "late.jsonl", "basic", "app")
    for day in ("2026-10-25", "2026-10-31"):
        compute("basic", "app", day)
    incremental = health_snapshot(product.pk, "2026-10-31")
    compute("basic", "app", "2026-10-31", full=True)
    assert incremental == health_snapshot(product.pk, "2026-10-31")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        {"cfu_lower": 45.0},  # at-risk users: the states are rebuilt from the daily rows
        {"score_lower": 35.0, "stickiness_mode": "wau"},  # bands only
        {"core_items": [{"module": "Dashboards"}, {"label": "core"}]},  # rebuilt from events
    ],
)
def test_it_gives_the_same_rows_as_a_full_rebuild_after_a_settings_change(change):
    from health.models import HealthSettings

    product = basic_computed(AS_OF)
    before = health_snapshot(product.pk, AS_OF)
    sessions_before = session_ids(product.pk)
    HealthSettings.dangerously_unscoped.filter(product=product).update(**change)
    compute("basic", "app", AS_OF)
    after = health_snapshot(product.pk, AS_OF), rollup_tables(product.pk, as_of(AS_OF))
    # Sessions know nothing of settings: every recompute for the same day keeps them.
    assert session_ids(product.pk) == sessions_before
    compute("basic", "app", AS_OF, full=True)
    assert after == (health_snapshot(product.pk, AS_OF), rollup_tables(product.pk, as_of(AS_OF)))
    assert after[0] != before, "the change should move some numbers"


def session_ids(product_id: int) -> list[str]:
    """The stored session rows' versions: the writing transaction and place of each."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT xmin::text || ctid::text FROM health_session WHERE product_id = %s"
            " ORDER BY ctid",
            [product_id],
        )
        return [row[0] for row in cursor.fetchall()]


def as_of(day: str) -> date:
    return date.fromisoformat(day)
