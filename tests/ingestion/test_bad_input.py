"""Bad input at the tracking API, case by case: sizes, gzip bombs, nesting, wrong types,
bad UTF-8 and lone surrogates, absurd timestamps, NaN and Infinity. Never a 5xx, every
refusal with a reason, and one bad message never costs its batch neighbours.
The rules are listed in docs/security.md ("Ingestion abuse")."""

from __future__ import annotations

import base64
import json
import tracemalloc
import uuid
import zlib
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.models import RejectedMessage
from ingestion.normalize import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES, MAX_NESTING
from vitals.tenancy.services import write_key_create

pytestmark = pytest.mark.django_db

ENDPOINTS = ["batch", "b", "identify", "group", "track", "page", "screen"]
SINGLE = ["identify", "group", "track", "page", "screen"]


@pytest.fixture
def auth(product) -> dict[str, str]:
    raw_key = write_key_create(product=product)[1]
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{raw_key}:".encode()).decode()}


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)


def _track(**extra) -> dict:
    return {
        "type": "track",
        "event": "Report Exported",
        "userId": "u1",
        "messageId": str(uuid.uuid4()),
        "timestamp": "2026-01-05T10:00:00Z",
        **extra,
    }


def _post(client: Client, path: str, data: bytes, auth: dict[str, str], **headers):
    return client.post(path, data=data, content_type="application/json", **auth, **headers)


def _refused(response, status: int, code: str) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False and body["code"] == code
    assert body["message"]
    return body["message"]


def _outcomes(response) -> list[dict]:
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    for result in results:
        if result["status"] == "rejected":
            assert result["reason"]
    return results


def _stored_raw(message_id: str) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT raw FROM ingestion_event WHERE message_id = %s", [message_id])
        return [json.loads(raw) if isinstance(raw, str) else raw for (raw,) in cursor.fetchall()]


def _stored_time(message_id: str) -> datetime:
    with connection.cursor() as cursor:
        cursor.execute("SELECT event_time FROM ingestion_event WHERE message_id = %s", [message_id])
        return cursor.fetchone()[0]


def _padded(body: dict, size: int) -> bytes:
    """`body` as JSON of exactly `size` bytes, padded in properties.pad."""
    body["properties"] = {"pad": ""}
    short = len(orjson.dumps(body))
    body["properties"]["pad"] = "x" * (size - short)
    data = orjson.dumps(body)
    assert len(data) == size
    return data


# --- sizes ---------------------------------------------------------------------------


def test_it_accepts_a_single_message_of_exactly_32_kb_and_refuses_one_byte_more(client, auth):
    at_limit = _padded(_track(), MAX_MESSAGE_BYTES)
    assert _outcomes(_post(client, "/v1/track", at_limit, auth))[0]["status"] == "accepted"
    over = _padded(_track(), MAX_MESSAGE_BYTES + 1)
    assert "32 KB" in _refused(_post(client, "/v1/track", over, auth), 413, "body_too_large")


def test_it_accepts_a_batch_of_exactly_500_kb_and_refuses_one_byte_more(client, auth):
    def batch_of(size: int) -> bytes:
        messages = [_track(properties={"pad": "x" * 20_000}) for _ in range(24)]
        body = {"batch": messages, "padding": ""}  # other envelope keys are ignored
        body["padding"] = "y" * (size - len(orjson.dumps(body)))
        data = orjson.dumps(body)
        assert len(data) == size
        return data

    results = _outcomes(_post(client, "/v1/batch", batch_of(MAX_BATCH_BYTES), auth))
    assert [r["status"] for r in results] == ["accepted"] * 24
    over = _post(client, "/v1/batch", batch_of(MAX_BATCH_BYTES + 1), auth)
    assert "500 KB" in _refused(over, 413, "body_too_large")


def test_it_refuses_a_declared_oversized_body_before_reading_it(client, auth):
    response = _post(client, "/v1/batch", b"{}", auth, CONTENT_LENGTH=str(MAX_BATCH_BYTES + 1))
    _refused(response, 413, "body_too_large")


# --- gzip ----------------------------------------------------------------------------


def _gzip_zeros(megabytes: int) -> bytes:
    """A gzip member of `megabytes` MB of JSON whitespace, compressed in 1 MB steps."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b" " * (1024 * 1024)
    parts = [deflater.compress(b'{"batch": [')]
    parts += [deflater.compress(chunk) for _ in range(megabytes)]
    parts.append(deflater.compress(b"]}") + deflater.flush())
    return b"".join(parts)


def test_it_refuses_a_gzip_bomb_without_inflating_it(client, auth):
    bomb = _gzip_zeros(200)  # 200 MB inflated
    assert len(bomb) < MAX_BATCH_BYTES
    tracemalloc.start()
    try:
        response = _post(client, "/v1/batch", bomb, auth, HTTP_CONTENT_ENCODING="gzip")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    _refused(response, 413, "body_too_large")
    # Inflating it all would allocate 200 MB; the reader stops at the limit (500 KB).
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_it_counts_every_gzip_member_against_the_limit(client, auth):
    half = b" " * (MAX_BATCH_BYTES // 2 + 10)
    members = b"".join(
        zlib.compress(part, wbits=16 + zlib.MAX_WBITS) for part in (b'{"batch": []', half, half)
    )
    response = _post(
        client,
        "/v1/batch",
        members + zlib.compress(b"}", wbits=31),
        auth,
        HTTP_CONTENT_ENCODING="gzip",
    )
    _refused(response, 413, "body_too_large")


@pytest.mark.parametrize(
    ("encoding", "data", "status", "code"),
    [
        ("gzip", b"\x1f\x8b\x08\x00garbage", 400, "invalid_gzip"),
        ("gzip", zlib.compress(b'{"batch": []}', wbits=31)[:-6], 400, "invalid_gzip"),
        ("deflate", zlib.compress(b'{"batch": []}'), 415, "unsupported_encoding"),
        ("br", b"\x00", 415, "unsupported_encoding"),
        ("gzip, gzip", b"", 415, "unsupported_encoding"),
    ],
    ids=["garbage", "truncated", "deflate", "brotli", "stacked"],
)
def test_it_refuses_bad_or_unknown_encodings_with_a_reason(
    client, auth, encoding, data, status, code
):
    response = _post(client, "/v1/batch", data, auth, HTTP_CONTENT_ENCODING=encoding)
    _refused(response, status, code)


# --- nesting -------------------------------------------------------------------------


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_it_refuses_a_body_nested_10000_levels_deep(client, auth, endpoint):
    # Lists, to stay under the single-message endpoints' 32 KB.
    data = b'{"batch": [{"properties": {"a": ' + b"[" * 10_000 + b"]" * 10_000 + b"}}]}"
    message = _refused(_post(client, f"/v1/{endpoint}", data, auth), 400, "invalid_json")
    assert "depth" in message


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 1000])
def test_it_rejects_a_deeply_nested_message_on_its_own(client, auth, depth):
    deep, fine = _track(), _track()
    data = b'{"batch": [' + orjson.dumps(deep)[:-1] + b', "properties": ' + _nested(depth)
    data += b"}, " + orjson.dumps(fine) + b"]}"
    results = _outcomes(_post(client, "/v1/batch", data, auth))
    assert results[0] == {
        "index": 0,
        "status": "rejected",
        "reason": f"message is nested more than {MAX_NESTING} levels deep",
    }
    assert results[1]["status"] == "accepted"
    assert len(_stored_raw(fine["messageId"])) == 1
    # Quarantined as the stdlib writes it (deeper than its recursion limit: a note instead).
    assert deep["messageId"] in RejectedMessage.dangerously_unscoped.get().payload


def test_it_stores_a_message_nested_200_levels_deep(client, auth):
    message = _track()
    data = orjson.dumps(message)[:-1] + b', "properties": ' + _nested(200) + b"}"
    assert _outcomes(_post(client, "/v1/track", data, auth))[0]["status"] == "accepted"
    assert len(_stored_raw(message["messageId"])) == 1


def test_it_rejects_a_deeply_nested_batch_context_for_each_message(client, auth):
    data = b'{"context": ' + _nested(300) + b', "batch": ['
    data += orjson.dumps(_track()) + b", " + orjson.dumps(_track()) + b"]}"
    results = _outcomes(_post(client, "/v1/batch", data, auth))
    assert [r["status"] for r in results] == ["rejected", "rejected"]


# --- wrong types ---------------------------------------------------------------------

WRONG = [True, 1.5, [1], {"a": 1}]
NOT_OBJECTS = ["text", 3, [1], True]
# (message, field path, wrong values): every field the API reads from a message.
FIELDS = [
    ({"type": "track"}, ("type",), [*WRONG, "alias"]),
    ({"type": "track"}, ("messageId",), WRONG),
    ({"type": "track"}, ("userId",), WRONG),
    ({"type": "track"}, ("anonymousId",), WRONG),
    ({"type": "track"}, ("event",), [*WRONG, "", 7]),
    ({"type": "group", "groupId": "a1"}, ("groupId",), WRONG),
    ({"type": "track"}, ("context",), NOT_OBJECTS),
    ({"type": "track"}, ("properties",), NOT_OBJECTS),
    ({"type": "identify"}, ("traits",), NOT_OBJECTS),
    ({"type": "track"}, ("context", "groupId"), WRONG),
    ({"type": "identify", "traits": {}}, ("traits", "accountId"), WRONG),
    ({"type": "track"}, ("timestamp",), [*WRONG, 1767225600]),
    (
        {"type": "track", "timestamp": None, "sentAt": "2026-01-05T10:00:00Z"},
        ("originalTimestamp",),
        WRONG,
    ),
    (
        {"type": "track", "timestamp": None, "originalTimestamp": "2026-01-05T10:00:00Z"},
        ("sentAt",),
        WRONG,
    ),
]
CASES = [
    pytest.param(base, path, value, id=f"{'.'.join(path)}={json.dumps(value)}")
    for base, path, values in FIELDS
    for value in values
]


def _with(base: dict, path: tuple[str, ...], value) -> dict:
    message = {key: val for key, val in {**_track(), **base}.items() if val is not None}
    target = message
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    return message


@pytest.mark.parametrize(("base", "path", "value"), CASES)
def test_it_rejects_a_wrong_type_naming_the_field(client, auth, base, path, value):
    message = _with(base, path, value)
    for endpoint, body in (("batch", {"batch": [message, _track()]}), ("track", message)):
        results = _outcomes(_post(client, f"/v1/{endpoint}", orjson.dumps(body), auth))
        assert results[0]["status"] == "rejected"
        assert path[-1] in results[0]["reason"] or "event" in results[0]["reason"]
        if endpoint == "batch":
            assert results[1]["status"] == "accepted"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"batch": "x"}, '"batch" must be a list'),
        ({"batch": {"0": {}}}, '"batch" must be a list'),
        ({"batch": None}, '"batch" must be a list'),
        ({}, '"batch" must be a list'),
        ({"batch": [], "context": [1]}, '"context" must be an object'),
        ({"batch": [], "context": "x"}, '"context" must be an object'),
    ],
)
def test_it_refuses_a_batch_envelope_of_the_wrong_type(client, auth, body, reason):
    message = _refused(_post(client, "/v1/batch", orjson.dumps(body), auth), 400, "invalid_batch")
    assert reason in message


def test_it_uses_a_wrong_typed_batch_sent_at_only_where_it_matters(client, auth):
    skewed = _track(timestamp=None, originalTimestamp="2026-01-05T10:00:00Z")
    skewed.pop("timestamp")
    body = {"batch": [skewed, _track()], "sentAt": 5}
    results = _outcomes(_post(client, "/v1/batch", orjson.dumps(body), auth))
    assert results[0] == {
        "index": 0,
        "status": "rejected",
        "reason": "sentAt must be an ISO 8601 string",
    }
    assert results[1]["status"] == "accepted"  # has its own timestamp: sentAt unused


@pytest.mark.parametrize("key", [5, ["k"], {"k": 1}, "", "\ud800", "ключ"])
def test_it_answers_401_for_a_write_key_of_the_wrong_type(client, key):
    data = json.dumps({"writeKey": key, "batch": [_track()]}).encode()
    _refused(_post(client, "/v1/batch", data, {}), 401, "unauthorized")


@pytest.mark.parametrize(
    "authorization",
    ["Basic !!!", "Basic " + base64.b64encode(b"\xff\xfe:").decode(), "Bearer x", "Basic"],
)
def test_it_answers_401_for_a_malformed_authorization_header(client, authorization):
    data = orjson.dumps({"batch": [_track()]})
    _refused(
        _post(client, "/v1/batch", data, {"HTTP_AUTHORIZATION": authorization}), 401, "unauthorized"
    )


# --- encodings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b'{"batch": [{"type": "track", "event": "\xff\xfe", "userId": "u", "messageId": "m"}]}',
        '{"batch": [{"type": "track", "event": "Café", "userId": "u"}]}'.encode("latin-1"),
        '{"batch": []}'.encode("utf-16"),
        b"\xc0\x80",  # an overlong NUL
        b'{"batch": [], "x": "\xed\xa0\x80"}',  # a surrogate encoded as UTF-8 bytes
    ],
    ids=["ff-fe", "latin-1", "utf-16", "overlong", "cesu-surrogate"],
)
@pytest.mark.parametrize("endpoint", ["batch", "track"])
def test_it_refuses_a_body_that_is_not_utf8(client, auth, data, endpoint):
    message = _refused(_post(client, f"/v1/{endpoint}", data, auth), 400, "invalid_json")
    assert "UTF-8" in message


@pytest.mark.parametrize("field", ["event", "userId", "messageId", "properties", "context"])
@pytest.mark.parametrize("surrogate", ["\\ud800", "\\udfff", "\\udbff\\u0041"])
def test_it_rejects_a_lone_surrogate_with_its_message_only(client, auth, field, surrogate):
    bad, fine = _track(), _track()
    bad[field] = {"k": "@@"} if field in ("properties", "context") else "@@"
    text = orjson.dumps({"batch": [bad, fine]}).decode().replace("@@", surrogate, 1)
    results = _outcomes(_post(client, "/v1/batch", text.encode(), auth))
    assert results[0]["status"] == "rejected" and "surrogate" in results[0]["reason"]
    assert results[1]["status"] == "accepted"
    payload = RejectedMessage.dangerously_unscoped.get().payload
    assert surrogate.split("\\u")[1] in payload  # kept, escaped, for the quarantine page


def test_it_stores_a_valid_surrogate_pair(client, auth):
    message = _track(event="@@")
    data = orjson.dumps(message).decode().replace("@@", "\\ud83d\\ude00").encode()
    assert _outcomes(_post(client, "/v1/track", data, auth))[0]["status"] == "accepted"
    assert _stored_raw(message["messageId"])[0]["event"] == "\U0001f600"


def test_it_strips_nul_escapes_but_keeps_an_escaped_backslash_before_u0000(client, auth):
    message = _track(properties={"literal": "\\u0000", "nul": "a\x00b", "both": "\\\x00"})
    data = orjson.dumps(message)
    assert _outcomes(_post(client, "/v1/track", data, auth))[0]["status"] == "accepted"
    stored = _stored_raw(message["messageId"])[0]["properties"]
    assert stored == {"literal": "\\u0000", "nul": "ab", "both": "\\"}


# --- timestamps ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        ("1970-01-01T00:00:00Z", "event time is before 2000-01-01"),
        ("1999-12-31T23:59:59.999Z", "event time is before 2000-01-01"),
        ("0001-01-01T00:00:00+01:00", "timestamp is not an ISO 8601 date-time"),
        ("yesterday", "timestamp is not an ISO 8601 date-time: 'yesterday'"),
        ("", "timestamp is not an ISO 8601 date-time"),
        ("2026-13-01T00:00:00Z", "timestamp is not an ISO 8601 date-time"),
        ("2026-01-01T25:00:00Z", "timestamp is not an ISO 8601 date-time"),
        ("2026-01-01T00:00:00+25:00", "timestamp is not an ISO 8601 date-time"),
        ("10000-01-01T00:00:00Z", "timestamp is not an ISO 8601 date-time"),
        (1767225600, "timestamp must be an ISO 8601 string"),
        (1767225600.5, "timestamp must be an ISO 8601 string"),
    ],
)
def test_it_rejects_absurd_or_garbage_timestamps_with_a_reason(client, auth, timestamp, reason):
    results = _outcomes(
        _post(client, "/v1/batch", orjson.dumps({"batch": [_track(timestamp=timestamp)]}), auth)
    )
    assert results[0]["status"] == "rejected"
    assert results[0]["reason"].startswith(reason)


def test_it_accepts_the_first_instant_of_2000(client, auth):
    message = _track(timestamp="2000-01-01T00:00:00Z")
    assert _outcomes(_post(client, "/v1/track", orjson.dumps(message), auth))[0] == {
        "index": 0,
        "status": "accepted",
    }
    assert _stored_time(message["messageId"]) == datetime(2000, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("timestamp", ["2200-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_it_clamps_a_far_future_timestamp_to_the_receive_time_with_a_warning(
    client, auth, timestamp
):
    message = _track(timestamp=timestamp)
    before = timezone.now()
    result = _outcomes(_post(client, "/v1/track", orjson.dumps(message), auth))[0]
    assert result["status"] == "accepted"
    assert "was in the future; set to receive time" in result["warning"]
    assert before <= _stored_time(message["messageId"]) <= timezone.now()


def test_it_keeps_a_timestamp_less_than_a_day_ahead(client, auth):
    ahead = (timezone.now() + timedelta(hours=23)).replace(microsecond=0)
    message = _track(timestamp=ahead.isoformat())
    result = _outcomes(_post(client, "/v1/track", orjson.dumps(message), auth))[0]
    assert result == {"index": 0, "status": "accepted"}
    assert _stored_time(message["messageId"]) == ahead


def test_it_corrects_a_device_clock_stuck_in_1970_by_its_sent_at(client, auth):
    # SPEC 2: no timestamp, so receivedAt - (sentAt - originalTimestamp): the skew cancels.
    message = _track(originalTimestamp="1970-01-01T00:00:05Z", sentAt="1970-01-01T00:00:10Z")
    message.pop("timestamp")
    before = timezone.now()
    result = _outcomes(_post(client, "/v1/track", orjson.dumps(message), auth))[0]
    assert result == {"index": 0, "status": "accepted"}
    stored = _stored_time(message["messageId"])
    assert before - timedelta(seconds=6) <= stored <= timezone.now()


# --- numbers -------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_it_rejects_a_non_finite_number_with_its_message_only(client, auth, number):
    bad, fine = _track(properties={"v": 0}), _track()
    text = orjson.dumps({"batch": [bad, fine]}).decode().replace('"v":0', f'"v":{number}', 1)
    results = _outcomes(_post(client, "/v1/batch", text.encode(), auth))
    assert results[0] == {
        "index": 0,
        "status": "rejected",
        "reason": f"{number} is not a JSON number (NaN, Infinity or out of range)",
    }
    assert results[1]["status"] == "accepted"
    assert '"v": ' in RejectedMessage.dangerously_unscoped.get().payload


@pytest.mark.parametrize("endpoint", SINGLE)
def test_it_rejects_nan_at_a_single_message_endpoint(client, auth, endpoint):
    text = orjson.dumps(_track(type=endpoint, groupId="a1")).decode()
    text = text[:-1] + ', "traits": {"score": NaN}}'
    results = _outcomes(_post(client, f"/v1/{endpoint}", text.encode(), auth))
    assert results[0]["status"] == "rejected" and "NaN" in results[0]["reason"]


def test_it_rejects_nan_in_the_batch_context_for_every_message(client, auth):
    messages = ", ".join(orjson.dumps(_track()).decode() for _ in range(2))
    text = '{"context": {"v": NaN}, "batch": [' + messages + "]}"
    results = _outcomes(_post(client, "/v1/batch", text.encode(), auth))
    assert [r["status"] for r in results] == ["rejected", "rejected"]


def test_it_stores_large_but_finite_numbers(client, auth):
    message = _track(properties={"big": 1.7976931348623157e308, "tiny": 5e-324})
    text = (
        orjson.dumps(message).decode()[:-1]
        + ', "context": {"huge_int": 123456789012345678901234567890}}'
    )
    assert _outcomes(_post(client, "/v1/track", text.encode(), auth))[0]["status"] == "accepted"
    stored = _stored_raw(message["messageId"])[0]
    assert float(stored["properties"]["big"]) == 1.7976931348623157e308  # jsonb: numeric
    assert stored["context"]["huge_int"] == pytest.approx(1.2345678901234568e29)


# --- fuzz: what orjson refuses but the stdlib writes ------------------------------

odd_text = st.text(
    alphabet=st.characters(codec=None, categories=["Cs", "Lu", "Nd", "Cc"]), max_size=6
)
odd_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | odd_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(odd_text, children, max_size=3)
    ),
    max_leaves=8,
)
odd_messages = st.fixed_dictionaries(
    {"type": st.sampled_from(["track", "page", "identify", "group"])},
    optional={
        key: odd_values
        for key in ("userId", "messageId", "event", "groupId", "properties", "context")
    },
)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_it_never_fails_on_nan_infinity_huge_integers_or_lone_surrogates(client, auth, endpoint):
    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(messages=st.lists(odd_messages, min_size=1, max_size=4))
    def run(messages: list[dict]) -> None:
        body = {"batch": messages} if endpoint in ("batch", "b") else messages[0]
        data = json.dumps(body).encode()  # NaN, Infinity, \udxxx escapes, any integer
        response = _post(client, f"/v1/{endpoint}", data, auth)
        assert response.status_code < 500, response.content
        payload = response.json()
        if response.status_code != 200:
            assert payload["message"]
            return
        assert len(payload["results"]) == len(body.get("batch", [body]))
        for result in payload["results"]:
            assert result["status"] != "rejected" or result["reason"]

    run()
