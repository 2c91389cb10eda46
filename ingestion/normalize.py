"""Validation and normalisation of one Segment-spec message (SPEC section 2).

Pure functions, no database: the HTTP API and the file import both call `normalize`, so a
message is judged the same whichever door it came through.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_ID_LENGTH = 512
MAX_NAME_LENGTH = 1024
# Timestamps before this are taken as broken clocks (epoch zero and the like) and rejected.
EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
# Timestamps further than this in the future are clamped to the receive time, with a warning.
FUTURE_TOLERANCE = timedelta(days=1)

TYPE_CODES = {"track": 1, "page": 2, "screen": 3, "identify": 4, "group": 5}
ACTIVITY_TYPES = {1, 2, 3}
# How deep orjson serializes; a decoded message nested deeper cannot be stored as JSON.
MAX_NESTING = 254
KIND_EVENT = "event"
KIND_PAGE = "page"


class Rejected(Exception):
    """The message is invalid; `reason` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class NormalizedMessage:
    type_code: int
    message_id: str
    user_id: str | None
    anonymous_id: str | None
    group_id: str | None  # the account a group call names, or identify's traits.accountId
    context_group_id: str | None
    event_kind: str | None  # "event" for track, "page" for page/screen
    event_name: str | None  # track event name or page path
    event_time: datetime
    received_at: datetime
    warning: str | None
    raw: bytes  # the message as received, JSON


def parse_time(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise Rejected(f"{field} must be an ISO 8601 string")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is UTC:  # "Z", what the libraries send
            return parsed
        if parsed.tzinfo is None:
            # Segment's libraries always send an offset; a bare time is read as UTC.
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise Rejected(f"{field} is not an ISO 8601 date-time: {value[:40]!r}") from exc


def _optional_id(message: dict[str, Any], field: str) -> str | None:
    value = message.get(field)
    if type(value) is str and value and len(value) <= MAX_ID_LENGTH and "\x00" not in value:
        return value  # the common case, decided in one line (this runs millions of times)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Rejected(f"{field} must be a string")
    text = str(value)
    if len(text) > MAX_ID_LENGTH:
        raise Rejected(f"{field} is longer than {MAX_ID_LENGTH} characters")
    if "\x00" in text:
        raise Rejected(f"{field} contains a NUL character")
    return text


def _dict_field(message: dict[str, Any], field: str) -> dict[str, Any]:
    value = message.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Rejected(f"{field} must be an object")
    return value


def identify_context_traits(context: dict[str, Any]) -> dict[str, Any]:
    """An identify's traits when it has none of its own: RudderStack's SDKs send them in
    `context.traits` only (storage.py reads them the same way, in SQL)."""
    value = context.get("traits")
    return value if isinstance(value, dict) else {}


# A \u0000 escape, not an escaped backslash followed by "u0000": an even run of backslashes
# before it (JSON escapes a backslash as two).
_NUL_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


def without_nul_escapes(raw: bytes) -> bytes:
    """The JSON text without \\u0000 escapes, which PostgreSQL's jsonb refuses."""
    if b"\\u0000" not in raw:  # the common case costs one scan
        return raw
    return _NUL_ESCAPE.sub(rb"\1", raw)


class NotANumber:
    """Where the lenient parse met NaN, Infinity or a number beyond double range."""

    def __init__(self, text: str) -> None:
        self.text = text


_INT64_RANGE = range(-(2**63), 2**64)  # what orjson reads as an integer (u64 included)


def _lenient_float(text: str) -> float | NotANumber:
    value = float(text)
    return value if math.isfinite(value) else NotANumber(text)


def _lenient_int(text: str) -> int | float | NotANumber:
    value = int(text)
    # orjson reads a larger integer as a float; do the same so both parses agree.
    return value if value in _INT64_RANGE else _lenient_float(text)


def lenient_loads(data: bytes) -> Any | None:
    """A request body orjson refused, parsed again so that one bad value costs one message,
    not the batch: NaN, Infinity (which Python's json module writes) and numbers out of
    double range become NotANumber, lone UTF-16 surrogates stay in their strings; both are
    then rejected by `normalize` for the message that holds them. None when the body is
    not JSON text even so (bad UTF-8, bad syntax, nested past Python's recursion limit)."""
    try:
        return json.loads(
            data.decode("utf-8"),
            parse_constant=NotANumber,
            parse_float=_lenient_float,
            parse_int=_lenient_int,
        )
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None


def _not_json(value: Any) -> Any:
    if isinstance(value, NotANumber):
        raise Rejected(f"{value.text} is not a JSON number (NaN, Infinity or out of range)")
    raise TypeError(f"{type(value).__name__} is not JSON")


def json_dumps(message: Any) -> bytes:
    """The message as JSON, or Rejected when it cannot be stored as JSON: nested too deeply,
    an integer out of 64-bit range, a lone surrogate or a NotANumber."""
    try:
        return orjson.dumps(message, default=_not_json)
    except orjson.JSONEncodeError as exc:
        if isinstance(exc.__cause__, Rejected):
            raise exc.__cause__ from None
        if "Recursion" in str(exc):
            raise Rejected(f"message is nested more than {MAX_NESTING} levels deep") from None
        if "surrogates" in str(exc):
            raise Rejected("message holds a lone UTF-16 surrogate (\\ud800-\\udfff)") from None
        raise Rejected(f"message cannot be stored as JSON: {exc}") from None


def page_path(properties: dict[str, Any], context: dict[str, Any]) -> str:
    """properties.path, else context.page.path, else the path of properties.url."""
    path = properties.get("path")
    if isinstance(path, str) and path:
        return path
    page = context.get("page")
    if isinstance(page, dict):
        path = page.get("path")
        if isinstance(path, str) and path:
            return path
    url = properties.get("url")
    if isinstance(url, str) and url:
        try:
            return urlsplit(url).path or "/"
        except ValueError:
            return ""
    return ""


def event_time_of(message: dict[str, Any], received_at: datetime) -> datetime:
    """SPEC 2: timestamp; else receivedAt - (sentAt - originalTimestamp); else receivedAt."""
    if message.get("timestamp") is not None:
        return parse_time(message["timestamp"], "timestamp")
    original = message.get("originalTimestamp")
    sent = message.get("sentAt")
    if original is not None and sent is not None:
        skew = parse_time(sent, "sentAt") - parse_time(original, "originalTimestamp")
        try:
            return received_at - skew
        except OverflowError as exc:
            raise Rejected("sentAt and originalTimestamp are too far apart") from exc
    if original is not None:
        return parse_time(original, "originalTimestamp")
    return received_at


def normalize(
    message: Any,
    *,
    received_at: datetime,
    raw: bytes | None = None,
    keep_own_received_at: bool = False,
) -> NormalizedMessage:
    """Validate one decoded message; raises Rejected with the reason when it is not valid.

    `keep_own_received_at` is for file imports: warehouse exports carry the receivedAt the
    first collector stamped, which is the right base for the clock-skew correction. The
    HTTP API never trusts a client-sent receivedAt.
    """
    if not isinstance(message, dict):
        raise Rejected("a message must be a JSON object")
    if keep_own_received_at and message.get("receivedAt") is not None:
        received_at = parse_time(message["receivedAt"], "receivedAt")
    raw = without_nul_escapes(json_dumps(message) if raw is None else raw)
    if len(raw) > MAX_MESSAGE_BYTES:
        raise Rejected("message is larger than 32 KB")

    type_name = message.get("type")
    if type_name is None:
        raise Rejected(f"type is missing: expected {', '.join(TYPE_CODES)}")
    if not isinstance(type_name, str):
        # Not str(type_name): it may be a huge or deeply nested value.
        raise Rejected(f"type must be a string: expected {', '.join(TYPE_CODES)}")
    if type_name.lower() not in TYPE_CODES:
        raise Rejected(f"unknown type {type_name[:40]!r}: expected {', '.join(TYPE_CODES)}")
    type_code = TYPE_CODES[type_name.lower()]

    message_id = _optional_id(message, "messageId")
    if message_id is None:
        raise Rejected("messageId is missing")
    user_id = _optional_id(message, "userId")
    anonymous_id = _optional_id(message, "anonymousId")
    if user_id is None and anonymous_id is None:
        raise Rejected("userId or anonymousId is required")

    context = _dict_field(message, "context")
    properties = _dict_field(message, "properties")
    traits = _dict_field(message, "traits")
    if type_code == 4 and not traits:
        traits = identify_context_traits(context)
    context_group_id = _optional_id(context, "groupId") if "groupId" in context else None

    group_id: str | None = None
    event_kind: str | None = None
    event_name: str | None = None
    if type_code == 1:
        event = message.get("event")
        if not isinstance(event, str) or not event.strip():
            raise Rejected("track needs a non-empty event name")
        if len(event) > MAX_NAME_LENGTH:
            raise Rejected(f"event name is longer than {MAX_NAME_LENGTH} characters")
        event_kind, event_name = KIND_EVENT, event
    elif type_code in (2, 3):
        event_kind, event_name = KIND_PAGE, page_path(properties, context)[:MAX_NAME_LENGTH]
    if event_name is not None and "\x00" in event_name:
        # PostgreSQL text cannot hold NUL; one such message must not fail its batch.
        raise Rejected("event name or page path contains a NUL character")
    elif type_code == 5:
        group_id = _optional_id(message, "groupId")
        if group_id is None:
            raise Rejected("group needs a groupId")
    elif type_code == 4 and "accountId" in traits:
        group_id = _optional_id(traits, "accountId")

    event_time = event_time_of(message, received_at)
    warning = None
    if event_time < EARLIEST_EVENT_TIME:
        raise Rejected("event time is before 2000-01-01")
    if event_time > received_at + FUTURE_TOLERANCE:
        warning = f"event time {event_time.isoformat()} was in the future; set to receive time"
        event_time = received_at

    # Positional arguments: this runs once per message.
    return NormalizedMessage(
        type_code,
        message_id,
        user_id,
        anonymous_id,
        group_id,
        context_group_id,
        event_kind,
        event_name,
        event_time,
        received_at,
        warning,
        raw,
    )
