"""The reference's reading of messages (SPEC section 2 and docs/metrics.md): validation as
far as the fixtures and the randomized traffic need it, ids as strings, event time, dedup
by messageId in arrival order. A message in, its accepted form (or None) out."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TYPES = {"identify", "group", "track", "page", "screen"}
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 in UTC; no offset reads as UTC (docs/metrics.md)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def event_time(message: dict, received_at: datetime, *, keep_own: bool = True) -> datetime | None:
    """SPEC 2, Event time. `received_at` is the server's; a file import keeps a message's
    own receivedAt (`keep_own`), the HTTP API never trusts one. More than a day in the
    future: the receive time (docs/metrics.md)."""
    own = parse_time(message.get("receivedAt")) if keep_own else None
    received = own or received_at
    sent, original = message.get("sentAt"), message.get("originalTimestamp")
    if message.get("timestamp") is not None:
        moment = parse_time(message["timestamp"])
    elif sent is not None and original is not None:
        sent_at, original_at = parse_time(sent), parse_time(original)
        if sent_at is None or original_at is None:
            return None
        moment = received - (sent_at - original_at)
    elif original is not None:
        moment = parse_time(original)
    else:
        moment = received
    if moment is not None and moment > received + FUTURE_TOLERANCE:
        return received
    return moment


def nonempty(value: Any) -> bool:
    return isinstance(value, str) and value != ""


class _Invalid(Exception):
    pass


def _identifier(value: Any) -> str | None:
    """An id: a non-empty string, or an integer read as its digits (SDKs send numeric ids);
    empty or missing is none; anything else makes the message invalid."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise _Invalid


def _object(message: dict, name: str) -> dict:
    value = message.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Invalid
    return value


def normalized(message: Any, received_at: datetime, *, keep_own: bool = True) -> dict | None:
    """The message with its ids as strings and its event time in `_time`; None when it is
    rejected. The fixtures' rejections: not JSON, not an object, an unknown type, a track
    without event, a group without groupId, an unreadable timestamp."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return None
    kind = message["type"].lower()
    if kind not in TYPES:
        return None
    try:
        ids = {
            name: _identifier(message.get(name)) for name in ("messageId", "userId", "anonymousId")
        }
        context, traits = dict(_object(message, "context")), dict(_object(message, "traits"))
        _object(message, "properties")
        context["groupId"] = _identifier(context.get("groupId"))
        group = _identifier(message.get("groupId")) if kind == "group" else None
        if kind == "identify":
            if not traits and isinstance(context.get("traits"), dict):
                # none of its own: context.traits, where RudderStack's SDKs send them
                # (docs/data-flow.md)
                traits = dict(context["traits"])
            traits["accountId"] = _identifier(traits.get("accountId"))
    except _Invalid:
        return None
    if ids["messageId"] is None or (ids["userId"] is None and ids["anonymousId"] is None):
        return None
    if kind == "track" and not (isinstance(message.get("event"), str) and message["event"].strip()):
        return None
    if kind == "group" and group is None:
        return None
    moment = event_time(message, received_at, keep_own=keep_own)
    if moment is None or moment < EARLIEST:
        return None
    return {
        **message,
        **ids,
        "type": kind,
        "groupId": group,
        "context": context,
        "traits": traits,
        "_time": moment,
    }


@dataclass
class Accepted:
    messages: list[dict] = field(default_factory=list)  # with "_time": the event time
    accepted: int = 0
    rejected: int = 0
    duplicate: int = 0
    seen: set[str] = field(default_factory=set)


def accept(
    items: Iterable[Any],
    received_at: datetime,
    *,
    keep_own: bool = True,
    into: Accepted | None = None,
) -> Accepted:
    """Validation and dedup (first messageId wins), in arrival order; `into` carries the
    messages and counts of earlier batches."""
    result = into if into is not None else Accepted()
    for item in items:
        message = normalized(item, received_at, keep_own=keep_own)
        if message is None:
            result.rejected += 1
            continue
        if message["messageId"] in result.seen:
            result.duplicate += 1
            continue
        result.seen.add(message["messageId"])
        result.accepted += 1
        result.messages.append(message)
    return result


def read_jsonl(path: Path) -> list[Any]:
    items: list[Any] = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except ValueError:
            items.append(None)  # undecodable: rejected
    return items
