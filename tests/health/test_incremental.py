"""The nightly incremental run equals a full rebuild, also after a late `group` call."""

from __future__ import annotations

import json

import pytest

from tests.health.helpers import (
    command,
    compute,
    fixture,
    health_snapshot,
    ingest_file,
)
from vitals.tenancy.models import Product

AS_OF = "2026-10-31"


@pytest.mark.django_db
def test_it_gives_the_same_rows_incrementally_as_a_full_rebuild_after_a_late_group(tmp_path):
    command("import_config", str(fixture("basic") / "config.json"))
    ingest_file(fixture("basic") / "events.jsonl", "basic", "app")
    compute("basic", "app", AS_OF)
    product = Product.dangerously_unscoped.get(organization__slug="basic", key="app")
    before = health_snapshot(product.pk, AS_OF)

    # u_00001 joins acc_0009 early in the window, arriving late: it re-attributes their
    # activity from that moment until their next membership.
    late = tmp_path / "late.jsonl"
    late.write_text(
        json.dumps(
            {
                "type": "group",
                "userId": "u_00001",
                "groupId": "acc_0009",
                "timestamp": "2026-10-20T00:00:00Z",
                "messageId": "late-group-1",
            }
        )
        + "\n"
    )
    assert "accepted 1" in ingest_file(late, "basic", "app")
    compute("basic", "app", AS_OF)
    incremental = health_snapshot(product.pk, AS_OF)
    compute("basic", "app", AS_OF, full=True)
    full = health_snapshot(product.pk, AS_OF)

    assert incremental == full
    assert incremental != before, "the late group call should have changed some numbers"
