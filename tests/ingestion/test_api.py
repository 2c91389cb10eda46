"""The tracking API over the Django test client: auth, limits, partial batches, dedup."""

from __future__ import annotations

import base64
import gzip
import uuid
from datetime import timedelta

import orjson
import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.utils import timezone

from ingestion import api
from ingestion.models import RejectedMessage
from vitals.tenancy.models import WriteKey
from vitals.tenancy.services import write_key_create, write_key_revoke

pytestmark = pytest.mark.django_db


def _basic(raw_key: str) -> dict[str, str]:
    token = base64.b64encode(f"{raw_key}:".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


def _track(message_id: str | None = None, **extra) -> dict:
    return {
        "type": "track",
        "event": "Report Exported",
        "userId": "u1",
        "messageId": message_id or str(uuid.uuid4()),
        "timestamp": "2026-01-05T10:00:00Z",
        **extra,
    }


def _post(client: Client, path: str, body, *, headers: dict | None = None, **kwargs):
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post(
        path, data=data, content_type="application/json", **(headers or {}), **kwargs
    )


def _events(message_id: str) -> list[tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT organization_id, product_id FROM ingestion_event WHERE message_id = %s",
            [message_id],
        )
        return cursor.fetchall()


@pytest.fixture
def key(product) -> tuple[WriteKey, str]:
    return write_key_create(product=product)


@pytest.fixture
def client() -> Client:
    return Client(enforce_csrf_checks=True)


def test_it_accepts_basic_auth(client, key, product):
    message = _track()
    response = _post(client, "/v1/batch", {"batch": [message]}, headers=_basic(key[1]))
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (1, 0, 0)
    assert body["results"] == [{"index": 0, "status": "accepted"}]
    assert _events(message["messageId"]) == [(product.organization_id, product.pk)]


def test_it_accepts_write_key_in_body_and_keeps_it_out_of_the_event(client, key):
    message = _track(writeKey=key[1])
    response = _post(client, "/v1/track", message)
    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT raw FROM ingestion_event WHERE message_id = %s", [message["messageId"]]
        )
        (raw,) = cursor.fetchone()
    raw = orjson.loads(raw) if isinstance(raw, str) else raw
    assert "writeKey" not in raw


def test_it_stamps_last_used_at(client, key):
    write_key, raw_key = key
    assert write_key.last_used_at is None
    _post(client, "/v1/track", _track(), headers=_basic(raw_key))
    write_key.refresh_from_db()
    assert write_key.last_used_at is not None


@pytest.mark.parametrize(
    "headers",
    [{}, _basic("vk_not-a-key"), {"HTTP_AUTHORIZATION": "Basic !!!"}],
    ids=["missing", "unknown", "garbled"],
)
def test_it_answers_401_without_a_valid_key(client, key, headers):
    response = _post(client, "/v1/batch", {"batch": [_track()]}, headers=headers)
    assert response.status_code == 401
    assert response.json()["success"] is False
    assert not RejectedMessage.dangerously_unscoped.exists()


def test_it_answers_401_for_a_revoked_key(client, key):
    write_key, raw_key = key
    write_key_revoke(write_key=write_key)
    message = _track()
    response = _post(client, "/v1/batch", {"batch": [message]}, headers=_basic(raw_key))
    assert response.status_code == 401
    assert _events(message["messageId"]) == []


def test_it_stores_valid_messages_and_quarantines_invalid_ones(client, key, product):
    good = _track()
    bad = {"type": "track", "userId": "u1", "messageId": "m-bad"}  # no event name
    response = _post(client, "/v1/batch", {"batch": [good, bad]}, headers=_basic(key[1]))
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert body["results"][0] == {"index": 0, "status": "accepted"}
    assert body["results"][1]["status"] == "rejected"
    assert body["results"][1]["reason"] == "track needs a non-empty event name"
    assert len(_events(good["messageId"])) == 1
    assert _events("m-bad") == []
    quarantined = RejectedMessage.dangerously_unscoped.get()
    assert quarantined.product_id == product.pk
    assert quarantined.write_key_id == key[0].pk
    assert quarantined.reason == "track needs a non-empty event name"
    assert "m-bad" in quarantined.payload


def test_it_counts_a_repeated_message_id_as_duplicate(client, key):
    message = _track()
    first = _post(client, "/v1/batch", {"batch": [message]}, headers=_basic(key[1]))
    second = _post(client, "/v1/batch", {"batch": [message]}, headers=_basic(key[1]))
    assert first.json()["accepted"] == 1
    assert (second.json()["accepted"], second.json()["duplicate"]) == (0, 1)
    assert len(_events(message["messageId"])) == 1


def test_it_applies_batch_context_and_sent_at(client, key):
    message = _track(context={"groupId": "acct-own"})
    del message["timestamp"]
    message["originalTimestamp"] = "2026-01-05T10:00:00Z"
    body = {
        "batch": [message],
        "context": {"library": {"name": "test"}, "groupId": "acct-batch"},
        "sentAt": "2026-01-05T10:00:05Z",
    }
    response = _post(client, "/v1/batch", body, headers=_basic(key[1]))
    assert response.json()["accepted"] == 1
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT raw, received_at - event_time FROM ingestion_event WHERE message_id = %s",
            [message["messageId"]],
        )
        raw, skew = cursor.fetchone()
    raw = orjson.loads(raw) if isinstance(raw, str) else raw
    assert raw["context"] == {"library": {"name": "test"}, "groupId": "acct-own"}
    assert raw["sentAt"] == "2026-01-05T10:00:05Z"
    assert skew == timedelta(seconds=5)


@pytest.mark.parametrize("endpoint", ["identify", "group", "track", "page", "screen"])
def test_it_sets_the_type_from_the_endpoint(client, key, endpoint):
    message = _track(groupId="acct-1", name="Home")
    del message["type"]
    response = _post(client, f"/v1/{endpoint}", message, headers=_basic(key[1]))
    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT raw->>'type' FROM ingestion_event WHERE message_id = %s",
            [message["messageId"]],
        )
        assert cursor.fetchone() == (endpoint,)


def test_it_accepts_the_b_alias(client, key):
    response = _post(client, "/v1/b", {"batch": [_track()]}, headers=_basic(key[1]))
    assert response.json()["accepted"] == 1


def test_it_accepts_a_gzip_body(client, key):
    message = _track()
    data = gzip.compress(orjson.dumps({"batch": [message]}))
    response = _post(
        client, "/v1/batch", data, headers={**_basic(key[1]), "HTTP_CONTENT_ENCODING": "gzip"}
    )
    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert len(_events(message["messageId"])) == 1


def test_it_refuses_a_gzip_bomb(client, key):
    padding = " " * (10 * 1024 * 1024)  # 10 MB of whitespace, ~10 KB compressed
    data = gzip.compress(b'{"batch": []' + padding.encode() + b"}")
    assert len(data) < 100 * 1024
    response = _post(
        client, "/v1/batch", data, headers={**_basic(key[1]), "HTTP_CONTENT_ENCODING": "gzip"}
    )
    assert response.status_code == 413


def test_it_answers_400_for_broken_gzip(client, key):
    response = _post(
        client,
        "/v1/batch",
        b"not gzip",
        headers={**_basic(key[1]), "HTTP_CONTENT_ENCODING": "gzip"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_gzip"


def test_it_answers_413_for_an_oversized_batch(client, key):
    big = [_track(properties={"pad": "x" * 20_000}) for _ in range(30)]  # ~600 KB
    response = _post(client, "/v1/batch", {"batch": big}, headers=_basic(key[1]))
    assert response.status_code == 413
    assert _events(big[0]["messageId"]) == []


def test_it_answers_413_for_an_oversized_single_message(client, key):
    message = _track(properties={"pad": "x" * 40_000})
    response = _post(client, "/v1/track", message, headers=_basic(key[1]))
    assert response.status_code == 413


def test_it_rejects_an_oversized_message_inside_a_batch_on_its_own(client, key):
    small, big = _track(), _track(properties={"pad": "x" * 40_000})
    response = _post(client, "/v1/batch", {"batch": [small, big]}, headers=_basic(key[1]))
    assert response.status_code == 200
    assert response.json()["results"][1]["reason"] == "message is larger than 32 KB"
    assert len(_events(small["messageId"])) == 1


@pytest.mark.parametrize(
    "data",
    [b"{not json", b"[1, 2]", b'"batch"', b'{"batch": {"a": 1}}', b'{"batch": [], "context": 3}'],
)
def test_it_answers_400_for_a_body_that_is_not_a_batch(client, key, data):
    response = _post(client, "/v1/batch", data, headers=_basic(key[1]))
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert response.json()["message"]


def test_it_answers_400_for_a_single_message_that_is_not_an_object(client, key):
    response = _post(client, "/v1/track", b"[]", headers=_basic(key[1]))
    assert response.status_code == 400


def test_it_answers_405_for_get(client):
    assert client.get("/v1/batch").status_code == 405


def test_it_answers_429_over_the_rate_limit(client, key, settings):
    settings.INGEST_RATE_LIMIT_PER_MINUTE = 3
    first = _post(client, "/v1/batch", {"batch": [_track(), _track()]}, headers=_basic(key[1]))
    assert first.status_code == 200
    blocked = _post(client, "/v1/batch", {"batch": [_track(), _track()]}, headers=_basic(key[1]))
    assert blocked.status_code == 429
    assert 1 <= int(blocked["Retry-After"]) <= 60
    assert blocked.json()["code"] == "rate_limited"


def test_it_limits_each_key_separately(client, key, product, settings):
    settings.INGEST_RATE_LIMIT_PER_MINUTE = 1
    _, other_raw_key = write_key_create(product=product)
    assert _post(client, "/v1/track", _track(), headers=_basic(key[1])).status_code == 200
    assert _post(client, "/v1/track", _track(), headers=_basic(other_raw_key)).status_code == 200
    assert _post(client, "/v1/track", _track(), headers=_basic(key[1])).status_code == 429


def test_it_writes_into_the_key_s_product_only(client, key, product, other_product):
    _, other_raw_key = write_key_create(product=other_product)
    message = _track()
    response = _post(client, "/v1/batch", {"batch": [message]}, headers=_basic(other_raw_key))
    assert response.json()["accepted"] == 1
    assert _events(message["messageId"]) == [(other_product.organization_id, other_product.pk)]
    # The same messageId is new for product A: dedup is per product.
    response = _post(client, "/v1/batch", {"batch": [message]}, headers=_basic(key[1]))
    assert response.json()["accepted"] == 1
    assert sorted(_events(message["messageId"])) == sorted(
        [
            (other_product.organization_id, other_product.pk),
            (product.organization_id, product.pk),
        ]
    )


def test_it_answers_503_when_the_database_is_unavailable(client, key, monkeypatch):
    def unavailable(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(api, "messages_ingest", unavailable)
    response = _post(client, "/v1/batch", {"batch": [_track()]}, headers=_basic(key[1]))
    assert response.status_code == 503
    assert response["Retry-After"] == str(api.DB_RETRY_AFTER_SECONDS)


def test_it_answers_503_when_the_key_lookup_fails(client, key, monkeypatch):
    def unavailable(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(api, "write_key_lookup", unavailable)
    response = _post(client, "/v1/batch", {"batch": [_track()]}, headers=_basic(key[1]))
    assert response.status_code == 503


def test_it_stamps_the_api_source_and_time_on_quarantined_messages(client, key):
    before = timezone.now()
    _post(client, "/v1/track", {"userId": "u1"}, headers=_basic(key[1]))
    quarantined = RejectedMessage.dangerously_unscoped.get()
    assert quarantined.source == "api"
    assert quarantined.received_at >= before
