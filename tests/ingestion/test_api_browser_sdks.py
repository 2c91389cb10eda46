"""What the browser SDKs send, as they send it: cross-origin requests (CORS preflight and
headers), analytics.js's one-letter paths and text/plain bodies with the write key inside,
RudderStack's beacon with the key in the query string, and `alias`, which Vitals refuses
with a reason instead of a 404 an SDK would retry."""

from __future__ import annotations

import base64
import uuid

import orjson
import pytest
from django.db import connection
from django.test import Client

from ingestion.models import RejectedMessage
from vitals.tenancy.services import write_key_create

pytestmark = pytest.mark.django_db

ORIGIN = "https://app.customer.test"


def _message(type_name: str, **extra) -> dict:
    return {
        "type": type_name,
        "userId": "u1",
        "messageId": f"ajs-next-{uuid.uuid4()}",
        "timestamp": "2026-01-05T10:00:00Z",
        **extra,
    }


def _stored(message_id: str) -> list[tuple[int, int, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT organization_id, product_id, raw->>'type' FROM ingestion_event"
            " WHERE message_id = %s",
            [message_id],
        )
        return cursor.fetchall()


@pytest.fixture
def raw_key(product) -> str:
    return write_key_create(product=product)[1]


@pytest.fixture
def client() -> Client:
    return Client(enforce_csrf_checks=True)


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/t", "/beacon/v1/batch"])
def test_it_answers_a_preflight_from_any_site(client, path):
    response = client.options(
        path,
        HTTP_ORIGIN=ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, anonymousid",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "anonymousid", "content-encoding"} <= allowed
    assert "Access-Control-Allow-Credentials" not in response


def test_it_lets_the_page_read_every_answer_even_an_error(client):
    response = client.post("/v1/t", data=b"{}", content_type="text/plain", HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 401
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "retry-after" in response["Access-Control-Expose-Headers"].lower()


@pytest.mark.parametrize("path", ["/login/", "/api/v1/products/", "/o/acme/p/app/", "/healthz"])
def test_it_keeps_every_other_url_same_origin(client, path):
    response = client.options(path, HTTP_ORIGIN=ORIGIN, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert "Access-Control-Allow-Origin" not in response
    response = client.get(path, HTTP_ORIGIN=ORIGIN)
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.parametrize(
    ("path", "type_name"),
    [
        ("/v1/t", "track"),
        ("/v1/p", "page"),
        ("/v1/i", "identify"),
        ("/v1/g", "group"),
        ("/v1/s", "screen"),
    ],
)
def test_it_takes_analytics_js_calls_on_their_one_letter_paths(
    client, raw_key, product, path, type_name
):
    # analytics.js: text/plain (no preflight), the write key in the body, the type set.
    message = {
        **_message(type_name, event="Report Exported", groupId="acct-1", name="Home"),
        "writeKey": raw_key,
    }
    response = client.post(
        path, data=orjson.dumps(message), content_type="text/plain", HTTP_ORIGIN=ORIGIN
    )
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 1
    assert response["Access-Control-Allow-Origin"] == "*"
    assert _stored(message["messageId"]) == [(product.organization_id, product.pk, type_name)]


def test_it_takes_a_beacon_batch_with_the_key_in_the_query_string(client, raw_key, product):
    messages = [_message("track", event="Report Exported"), _message("page", name="Home")]
    response = client.post(
        f"/beacon/v1/batch?writeKey={raw_key}",
        data=orjson.dumps({"batch": messages, "sentAt": "2026-01-05T10:00:01Z"}),
        content_type="text/plain;charset=UTF-8",
        HTTP_ORIGIN=ORIGIN,
    )
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 2
    for message in messages:
        assert _stored(message["messageId"]) == [
            (product.organization_id, product.pk, message["type"])
        ]


def test_the_query_string_key_decides_the_product_like_any_key(
    client, raw_key, product, other_product
):
    # The header, then the body, then the URL: a key in the URL cannot redirect a request
    # authenticated otherwise, and a key of another product writes only there.
    _, other_key = write_key_create(product=other_product)
    message = _message("track", event="E")
    token = base64.b64encode(f"{raw_key}:".encode()).decode()
    response = client.post(
        f"/beacon/v1/batch?writeKey={other_key}",
        data=orjson.dumps({"batch": [message]}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {token}",
    )
    assert response.json()["accepted"] == 1
    assert _stored(message["messageId"]) == [(product.organization_id, product.pk, "track")]
    unknown = client.post(
        "/beacon/v1/batch?writeKey=wk_not_a_key",
        data=orjson.dumps({"batch": [_message("track", event="E")]}),
        content_type="application/json",
    )
    assert unknown.status_code == 401


@pytest.mark.parametrize("path", ["/v1/a", "/v1/alias"])
def test_it_refuses_alias_with_a_reason_and_keeps_it(client, raw_key, product, path):
    message = {"previousId": "anon-1", **_message("alias"), "writeKey": raw_key}
    del message["type"]
    response = client.post(path, data=orjson.dumps(message), content_type="text/plain")
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 0 and body["rejected"] == 1
    assert "alias" in body["results"][0]["reason"]
    assert _stored(message["messageId"]) == []
    kept = RejectedMessage.dangerously_unscoped.get(product=product)
    assert "alias" in kept.reason and "writeKey" not in kept.payload


@pytest.mark.parametrize("path", ["/v1/import", "/v1/import/", "/v1/b"])
def test_it_takes_batches_on_the_other_sdks_paths(client, raw_key, product, path):
    message = _message("track", event="Report Exported")
    token = base64.b64encode(f"{raw_key}:".encode()).decode()
    response = client.post(
        path,
        data=orjson.dumps({"batch": [message]}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {token}",
    )
    assert response.status_code == 200, response.content
    assert _stored(message["messageId"]) == [(product.organization_id, product.pk, "track")]
