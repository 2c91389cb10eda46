"""Copies of one batch stored at the same time, each in its own database session: every
message is stored once, each copy's answer adds up, and the people and memberships are
not doubled."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections

from ingestion.services import SOURCE_API, IngestResult, RawItem, messages_ingest
from vitals.tenancy.models import Product
from vitals.tenancy.scope import tenant_scope

pytestmark = pytest.mark.django_db(transaction=True)

COPIES = 3


def _batch(count: int, *, prefix: str) -> list[dict]:
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    messages: list[dict] = []
    for n in range(count):
        at = (start + timedelta(seconds=n)).isoformat().replace("+00:00", "Z")
        user = f"user-{n % 40}"
        if n < 40:
            message = {"type": "group", "groupId": f"acct-{n % 7}", "traits": {"plan": "pro"}}
        else:
            message = {"type": "track", "event": f"Event {n % 5}"}
        messages.append({**message, "userId": user, "messageId": f"{prefix}-{n}", "timestamp": at})
    return messages


def _ingest_concurrently(product: Product, batches: list[list[dict]]) -> list[IngestResult]:
    barrier = threading.Barrier(len(batches))
    results: list[IngestResult | BaseException] = [RuntimeError("not run")] * len(batches)

    def send(slot: int) -> None:
        try:
            items = [RawItem(index=i, message=m) for i, m in enumerate(batches[slot])]
            barrier.wait(timeout=30)
            with tenant_scope(product.organization, product):
                results[slot] = messages_ingest(
                    product=product,
                    items=items,
                    received_at=datetime(2026, 3, 3, tzinfo=UTC),
                    source=SOURCE_API,
                )
        except BaseException as exc:  # reported by the main thread
            results[slot] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(slot,)) for slot in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


@pytest.fixture(autouse=True)
def _no_events_left(product):
    yield
    # ingestion_event is created in SQL (unmanaged): the flush after the test skips it.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM ingestion_event WHERE product_id = %s", [product.pk])


def _count(sql: str, *params: object) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def test_it_stores_each_message_once_when_copies_of_a_batch_arrive_together(product):
    batch = _batch(300, prefix="same")

    results = _ingest_concurrently(product, [batch] * COPIES)

    assert sum(r.accepted for r in results) == 300
    assert sum(r.duplicate for r in results) == 300 * (COPIES - 1)
    for result in results:
        assert result.accepted in (0, 300)  # one copy wins whole: it commits first
    assert _count("SELECT count(*) FROM ingestion_event WHERE product_id = %s", product.pk) == 300
    assert (
        _count(
            "SELECT count(DISTINCT message_id) FROM ingestion_event WHERE product_id = %s",
            product.pk,
        )
        == 300
    )
    assert _count("SELECT count(*) FROM ingestion_enduser") == 40
    assert _count("SELECT count(*) FROM ingestion_account") == 7
    assert _count("SELECT count(*) FROM ingestion_accountmembership") == 40
    unattributed = (
        "SELECT count(*) FROM ingestion_event WHERE product_id = %s AND account_pk IS NULL"
    )
    assert _count(unattributed, product.pk) == 0


def test_it_stores_overlapping_batches_once_and_the_new_names_once(product):
    first = _batch(300, prefix="over")
    second = first[150:] + _batch(300, prefix="more")[150:]  # half old, half new

    results = _ingest_concurrently(product, [first, second, list(reversed(second))])

    assert sum(r.accepted for r in results) == 450
    assert _count("SELECT count(*) FROM ingestion_event WHERE product_id = %s", product.pk) == 450
    assert _count("SELECT count(*) FROM ingestion_seenmessage") == 450
    assert _count("SELECT count(*) FROM ingestion_enduser") == 40
    assert _count("SELECT count(*) FROM ingestion_account") == 7
