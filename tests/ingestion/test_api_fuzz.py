"""Malformed payloads at every endpoint with a valid key: never a 5xx, and every
rejected message says why."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vitals.tenancy.services import write_key_create

pytestmark = pytest.mark.django_db

ENDPOINTS = ["batch", "b", "identify", "group", "track", "page", "screen"]
SEGMENT_KEYS = [
    "type",
    "userId",
    "anonymousId",
    "groupId",
    "event",
    "name",
    "properties",
    "traits",
    "context",
    "timestamp",
    "originalTimestamp",
    "sentAt",
    "messageId",
    "writeKey",
]
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# NUL included: PostgreSQL text cannot hold it, so ingestion must reject or strip it.
text = st.text(alphabet=st.characters(codec="utf-8"), max_size=20)
ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)  # what JSON parsers accept
json_values = st.recursive(
    st.none() | st.booleans() | ints | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)
# Every representable year, offsets included: far-off ones must be rejected, not crash.
times = st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat)
plausible = {
    "type": st.sampled_from(["track", "page", "screen", "identify", "group", "alias", "TRACK"]),
    "userId": text | ints,
    "anonymousId": text,
    "groupId": text,
    "event": text,
    "messageId": text | ints,
    "timestamp": times | text,
    "originalTimestamp": times,
    "sentAt": times,
    "context": st.fixed_dictionaries(
        {}, optional={"groupId": json_values, "page": json_values, "library": json_values}
    ),
}
segmentish = st.fixed_dictionaries(
    {},
    optional={key: json_values | plausible.get(key, json_values) for key in SEGMENT_KEYS},
)
messages = segmentish | json_values
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(orjson.dumps),
    segmentish.map(orjson.dumps),
    st.fixed_dictionaries(
        {"batch": st.lists(messages, max_size=5)},
        optional={"context": json_values, "sentAt": times | json_values},
    ).map(orjson.dumps),
)


@pytest.fixture
def auth(product) -> dict[str, str]:
    raw_key = write_key_create(product=product)[1]
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{raw_key}:".encode()).decode()}


def _check(response) -> None:
    assert response.status_code < 500, response.content
    body = response.json()
    if response.status_code != 200:
        assert body["success"] is False and body["message"]
        return
    results = body["results"]
    assert body["accepted"] + body["duplicate"] + body["rejected"] == len(results)
    for result in results:
        assert result["status"] in ("accepted", "duplicate", "rejected")
        if result["status"] == "rejected":
            assert result["reason"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_it_never_fails_on_malformed_payloads(auth, endpoint):
    client = Client()

    @FUZZ
    @given(data=bodies)
    def run(data: bytes) -> None:
        response = client.post(
            f"/v1/{endpoint}", data=data, content_type="application/json", **auth
        )
        _check(response)

    run()


@pytest.mark.parametrize("endpoint", ["batch", "track"])
def test_it_never_fails_on_segmentish_messages(auth, endpoint):
    client = Client()

    @FUZZ
    @given(message=segmentish)
    def run(message: dict) -> None:
        body = {"batch": [message]} if endpoint == "batch" else message
        response = client.post(
            f"/v1/{endpoint}", data=orjson.dumps(body), content_type="application/json", **auth
        )
        _check(response)

    run()


@pytest.mark.parametrize(
    "extra",
    [
        {"messageId": "a\x00b"},
        {"userId": "u\x00"},
        {"event": "e\x00"},
        {"timestamp": "0001-01-01T00:00:00+01:00"},
        {
            "timestamp": None,
            "sentAt": "9999-12-31T00:00:00Z",
            "originalTimestamp": "2001-01-01T00:00:00Z",
        },
    ],
    ids=["nul-message-id", "nul-user-id", "nul-event", "year-1", "huge-skew"],
)
def test_it_rejects_known_crashers_instead_of_failing(auth, extra):
    message = {
        "type": "track",
        "event": "x",
        "userId": "u",
        "messageId": "m1",
        "timestamp": "2026-01-01T00:00:00Z",
        **extra,
    }
    message = {key: value for key, value in message.items() if value is not None}
    client = Client(raise_request_exception=False)
    response = client.post(
        "/v1/batch",
        data=orjson.dumps({"batch": [message]}),
        content_type="application/json",
        **auth,
    )
    _check(response)
    assert response.json()["rejected"] == 1
