"""Real traffic from the official SDKs against a live server: every call lands exactly once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from rudderstack.analytics import Client as RudderClient
from segment.analytics import Client as SegmentClient

from vitals.tenancy.services import write_key_create

pytestmark = pytest.mark.django_db(transaction=True)


def _send_everything(client: Any) -> list[str]:
    """identify, group, track, page and screen; returns the messageIds the SDK assigned."""
    calls: list[Callable[[], tuple[bool, dict]]] = [
        lambda: client.identify(user_id="u1", traits={"email": "u1@example.test"}),
        lambda: client.group(user_id="u1", group_id="acct-1", traits={"name": "Initech"}),
        lambda: client.track(user_id="u1", event="Report Exported", properties={"rows": 3}),
        lambda: client.page(user_id="u1", name="Reports", properties={"path": "/reports/1"}),
        lambda: client.screen(user_id="u1", name="Dashboard"),
        lambda: client.track(anonymous_id="anon-1", event="Signed Up"),
    ]
    message_ids = []
    for call in calls:
        success, message = call()
        assert success
        message_ids.append(message["messageId"])
    return message_ids


def _stored(message_ids: list[str]) -> dict[str, tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT message_id, count(*), min(product_id) FROM ingestion_event"
            " WHERE message_id = ANY(%s) GROUP BY message_id",
            [message_ids],
        )
        return {row[0]: (row[1], row[2]) for row in cursor.fetchall()}


@pytest.fixture(autouse=True)
def _server_threads_close_connections(monkeypatch):
    # Live-server threads would keep their connections for CONN_MAX_AGE, which blocks
    # dropping the test database at the end of the session.
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)


@pytest.fixture
def raw_key(product) -> str:
    return write_key_create(product=product)[1]


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_it_stores_segment_sync_calls_once_each(live_server, product, raw_key, gzip):
    client = SegmentClient(
        raw_key, host=live_server.url, sync_mode=True, gzip=gzip, max_retries=0, timeout=10
    )
    message_ids = _send_everything(client)
    assert _stored(message_ids) == {mid: (1, product.pk) for mid in message_ids}


def test_it_stores_segment_batched_calls_once_each(live_server, product, raw_key):
    errors: list[Exception] = []
    client = SegmentClient(
        raw_key,
        host=live_server.url,
        upload_interval=0.05,
        max_retries=0,
        on_error=lambda error, batch: errors.append(error),
    )
    message_ids = _send_everything(client)
    client.flush()
    client.join()
    assert errors == []
    assert _stored(message_ids) == {mid: (1, product.pk) for mid in message_ids}


@pytest.mark.parametrize("sync_mode", [True, False], ids=["sync", "batched"])
def test_it_stores_rudderstack_calls_once_each(live_server, product, raw_key, sync_mode):
    errors: list[Exception] = []
    client = RudderClient(
        raw_key,
        host=live_server.url,
        sync_mode=sync_mode,
        gzip=True,
        max_retries=0,
        upload_interval=0.05,
        timeout=10,
        on_error=lambda error, batch: errors.append(error),
    )
    message_ids = _send_everything(client)
    if not sync_mode:
        client.flush()
        client.join()
    assert errors == []
    assert _stored(message_ids) == {mid: (1, product.pk) for mid in message_ids}


def test_it_counts_a_resent_batch_as_duplicates(live_server, product, raw_key):
    """An SDK retrying after a lost response must not create second events."""
    client = SegmentClient(raw_key, host=live_server.url, sync_mode=True, max_retries=0)
    success, message = client.track(user_id="u1", event="Report Exported")
    assert success
    client.track(user_id="u1", event="Report Exported", message_id=message["messageId"])
    assert _stored([message["messageId"]]) == {message["messageId"]: (1, product.pk)}


def test_it_reports_a_bad_key_to_the_segment_sdk(live_server, product):
    from segment.analytics.request import APIError

    client = SegmentClient("vk_wrong", host=live_server.url, sync_mode=True, max_retries=0)
    with pytest.raises(APIError) as excinfo:
        client.track(user_id="u1", event="Report Exported")
    assert excinfo.value.status == 401
    assert excinfo.value.code == "unauthorized"
