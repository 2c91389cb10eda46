"""Every run first summarizes the event partitions' new BRIN ranges (unsummarized ranges
match every query, so a night would read whole partitions)."""

from __future__ import annotations

import orjson
import pytest
from django.utils import timezone

from health.services import event_ranges_summarize, health_compute
from ingestion.services import RawItem, messages_ingest
from tests.health.helpers import AS_OF, ingest_activity, org_product
from vitals.tenancy.scope import tenant_scope

pytestmark = pytest.mark.django_db(transaction=True)


def ingest_many(product, count: int = 3000) -> None:
    """Enough events to fill several block ranges (the last, partial range of a partition
    is summarized only once it is full)."""
    messages = [
        {
            "type": "track",
            "userId": f"u{n % 50}",
            "event": "Report Exported",
            "properties": {"note": "x" * 300},
            "messageId": f"m-{n}",
            "timestamp": f"2026-06-{1 + n % 13:02d}T10:{n % 60:02d}:00Z",
        }
        for n in range(count)
    ]
    items = [
        RawItem(index=i, message=message, raw=orjson.dumps(message))
        for i, message in enumerate(messages)
    ]
    result = messages_ingest(
        product=product, items=items, received_at=timezone.now(), source="test"
    )
    assert result.accepted == count


def test_new_ranges_are_summarized_once() -> None:
    product = org_product("ranges", "UTC")
    with tenant_scope(product.organization, product):
        ingest_many(product)
    # (summaries are index writes, not undone by a rollback: nothing to count them by
    # without making them)
    assert event_ranges_summarize() >= 1
    assert event_ranges_summarize() == 0


def test_a_run_leaves_no_range_unsummarized() -> None:
    product = org_product("ranges", "UTC")
    with tenant_scope(product.organization, product):
        ingest_activity(product)
        ingest_many(product)
        health_compute(product=product, as_of=AS_OF)
    assert event_ranges_summarize() == 0
