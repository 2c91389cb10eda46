"""Concurrent chunks naming the same users and accounts, in any order, are all stored
(`make load` with eight requests at once found deadlocks: rows are locked in key order,
and a chunk PostgreSQL rolls back to break one is stored again)."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from ingestion.services import SOURCE_API, RawItem, messages_ingest
from vitals.tenancy.scope import tenant_scope

THREADS = 4
ROUNDS = 6
CHUNK = 300


def _chunk(rng: random.Random, thread: int, round_: int) -> list[RawItem]:
    now = timezone.now()
    items = []
    for index in range(CHUNK):
        user = rng.randrange(300)
        message = {
            "userId": f"u{user}",
            "messageId": f"t{thread}-r{round_}-{index}",
            # Random times: most upserts move first_seen_at, so they lock and update rows.
            "timestamp": (now - timedelta(seconds=rng.uniform(0, 86_400))).isoformat(),
        }
        roll = rng.random()
        if roll < 0.1:
            message |= {"type": "group", "groupId": f"a{user % 30}", "traits": {"plan": "pro"}}
        elif roll < 0.15:
            message |= {"type": "identify", "traits": {"email": f"u{user}@example.com"}}
        else:
            message |= {"type": "track", "event": f"E{rng.randrange(20)}"}
        items.append(RawItem(index=index, message=message))
    return items


@pytest.mark.django_db(transaction=True)
def test_it_ingests_overlapping_chunks_concurrently_without_deadlock(product, caplog):
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(thread: int) -> None:
        rng = random.Random(thread)
        chunks = [_chunk(rng, thread, round_) for round_ in range(ROUNDS)]
        try:
            start.wait()
            for items in chunks:
                with tenant_scope(product.organization, product):
                    messages_ingest(
                        product=product,
                        items=items,
                        received_at=timezone.now(),
                        source=SOURCE_API,
                    )
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert [str(error) for error in errors] == []
    # Not even one retried: every chunk locks the rows it updates in one pass, in id order
    # (before, about four deadlocks a run, each costing a chunk's rollback and retry).
    retries = [r.message for r in caplog.records if "rolled back by a deadlock" in r.message]
    assert retries == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ingestion_event WHERE product_id = %s", [product.pk])
        assert cursor.fetchone()[0] == THREADS * ROUNDS * CHUNK
