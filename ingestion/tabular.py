"""Rows to Segment messages: warehouse exports, CSV and Parquet (docs/file-import.md).

`to_segment_message` is pure: it turns one row (snake_case warehouse columns, dotted
`properties.x` columns, JSON strings in `properties`/`traits`/`context`) into the message
the HTTP API would have received. The readers stream CSV and Parquet in chunks and yield
`RawItem`s, so a file import goes through the same `messages_ingest` as everything else.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import IO, Any

import orjson

from ingestion.services import RawItem

# pandas and pyarrow are imported by the CSV and Parquet readers only: together they take
# half a second to import, more than a JSONL import of 50,000 messages.

# Column -> Segment field, for the fields that sit at the top of a message.
FIELDS = {
    "type": "type",
    "id": "messageId",
    "message_id": "messageId",
    "messageId": "messageId",
    "user_id": "userId",
    "userId": "userId",
    "anonymous_id": "anonymousId",
    "anonymousId": "anonymousId",
    "group_id": "groupId",
    "groupId": "groupId",
    "previous_id": "previousId",
    "previousId": "previousId",
    "event": "event",
    "event_text": "event",
    "name": "name",
    "timestamp": "timestamp",
    "original_timestamp": "originalTimestamp",
    "originalTimestamp": "originalTimestamp",
    "sent_at": "sentAt",
    "sentAt": "sentAt",
    "received_at": "receivedAt",
    "receivedAt": "receivedAt",
    "channel": "channel",
    "version": "version",
}
CONTAINERS = ("properties", "traits", "context", "integrations")
# Bookkeeping columns the warehouse loader adds; not part of the message.
IGNORED = frozenset({"uuid", "uuid_ts", "loaded_at"})
# Objects of Segment's context, as `context_<object>_<field>` columns.
CONTEXT_OBJECTS = frozenset(
    {"app", "campaign", "device", "library", "location", "network", "os", "page"}
    | {"referrer", "screen", "traits"}
)
# Reserved traits the warehouse snake_cases; the engine reads them by their Segment names.
TRAIT_NAMES = {
    "created_at": "createdAt",
    "first_name": "firstName",
    "last_name": "lastName",
    "account_id": "accountId",
}
_WAREHOUSE_ONLY = frozenset(key for key, field in FIELDS.items() if key != field) | IGNORED
_INTEGER = re.compile(r"-?(0|[1-9][0-9]{0,17})")
_BAD_LINE = re.compile(r"Skipping line (\d+): (.*)")


class ConversionError(ValueError):
    """The row cannot become a message; `reason` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_segment_message(row: dict[str, Any]) -> bool:
    """Already a Segment message: a type, camelCase fields, nested objects."""
    kind = row.get("type")
    if not kind or not isinstance(kind, str):
        return False
    for name in CONTAINERS:
        if isinstance(row.get(name), str):
            return False
    # A file's rows share a handful of key sets: each is judged once.
    keys = tuple(row)
    segment_keys = _SEGMENT_KEYS.get(keys)
    if segment_keys is None:
        if len(_SEGMENT_KEYS) > 4096:
            _SEGMENT_KEYS.clear()
        segment_keys = _SEGMENT_KEYS[keys] = not any(
            key in _WAREHOUSE_ONLY or "." in key or key.startswith("context_") for key in keys
        )
    return segment_keys


_SEGMENT_KEYS: dict[tuple[str, ...], bool] = {}


def to_segment_message(row: dict[str, Any]) -> dict[str, Any]:
    """One row as a Segment message; a Segment message is returned unchanged.

    Raises ConversionError when the row cannot be read as a message at all. Whether the
    message is valid (ids, timestamps) is judged later by `normalize`, as for the API.
    """
    if is_segment_message(row):
        return row
    message: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {name: {} for name in CONTAINERS}
    loose: dict[str, Any] = {}
    event_text = None
    for key, value in row.items():
        if _missing(value) or key in IGNORED:
            continue
        if key == "event_text":
            event_text = value
        elif key in FIELDS:
            message[FIELDS[key]] = value
        elif key in CONTAINERS:
            _merge(nested[key], _object(value, key), key)
        elif "." in key:
            head, *path = key.split(".")
            if head in CONTAINERS and all(path):
                _put(nested[head], path, value, key)
            else:
                _put(loose, [head, *path], value, key)
        elif key.startswith("context_"):
            _put(nested["context"], _context_path(key.removeprefix("context_")), value, key)
        else:
            loose[key] = value
    if event_text is not None:
        # Warehouses keep the event name as sent in event_text; `event` is a slug of it.
        message["event"] = event_text

    properties, traits, context = nested["properties"], nested["traits"], nested["context"]
    kind = message.pop("type", None) or _infer_type(message, properties, traits, context, loose)
    message = {"type": kind, **message}
    if kind in ("identify", "group"):
        # identify and group carry traits; a warehouse flattens them into columns.
        if "name" in message:
            traits.setdefault("name", message.pop("name"))
        for key, value in loose.items():
            traits.setdefault(TRAIT_NAMES.get(key, key), value)
    else:
        for key, value in loose.items():
            properties.setdefault(key, value)
    for name in CONTAINERS:
        if nested[name]:
            message[name] = nested[name]
    return message


def _infer_type(
    message: dict[str, Any],
    properties: dict[str, Any],
    traits: dict[str, Any],
    context: dict[str, Any],
    loose: dict[str, Any],
) -> str:
    """Warehouse tables have no type column: tell it from the fields the row has."""
    if message.get("event"):
        return "track"
    if message.get("groupId"):
        return "group"
    if traits:
        # Before the page test: an identify from a browser carries context.page too.
        return "identify"
    page = context.get("page")
    places = [loose, properties, page if isinstance(page, dict) else {}]
    if any(place.get("path") or place.get("url") for place in places):
        return "page"
    raise ConversionError(
        "no type column, and no event, group_id, traits, page path or url to tell the"
        " message type from"
    )


def _missing(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def _null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _object(value: Any, column: str) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise ConversionError(f"the {column} column is not valid JSON") from None
    if not isinstance(value, dict):
        raise ConversionError(f"the {column} column must hold a JSON object")
    return value


def _merge(target: dict[str, Any], source: dict[str, Any], column: str) -> None:
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value, column)
        elif key not in target:
            target[key] = value


def _put(target: dict[str, Any], path: list[str], value: Any, column: str) -> None:
    for step in path[:-1]:
        target = target.setdefault(step, {})
        if not isinstance(target, dict):
            raise ConversionError(f"column {column} nests under a value that is not an object")
    if isinstance(target.get(path[-1]), dict) and not isinstance(value, dict):
        raise ConversionError(f"column {column} clashes with columns nested under it")
    target[path[-1]] = value


def _camel(snake: str) -> str:
    first, *rest = snake.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def _context_path(rest: str) -> list[str]:
    """context_page_path -> page.path, context_group_id -> groupId, context_ip -> ip."""
    head, _, tail = rest.partition("_")
    if head in CONTEXT_OBJECTS and tail:
        return [head, tail if head == "traits" else _camel(tail)]
    return [_camel(rest)]


# Readers ---------------------------------------------------------------------------------


def _from_text(column: str, text: str) -> Any:
    """A CSV cell. Top-level fields stay text (ids like "007"); other cells holding a JSON
    number, boolean, object or array that reads back exactly become that value."""
    if column in FIELDS or column in CONTAINERS:
        return text
    if text in ("true", "false"):
        return text == "true"
    if _INTEGER.fullmatch(text):
        return int(text)
    if text[:1] in ("{", "["):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) and repr(number) == text else text


def _item(index: int, row: dict[str, Any]) -> RawItem:
    try:
        return RawItem(index=index, message=to_segment_message(row))
    except ConversionError as exc:
        raw = orjson.dumps(row, default=str, option=orjson.OPT_NON_STR_KEYS)
        return RawItem(index=index, message=None, raw=raw, decode_error=exc.reason)


def csv_items(handle: IO[bytes], *, chunk_size: int) -> Iterator[RawItem]:
    """CSV rows as RawItems numbered by file line (the header is line 1).

    Malformed lines (too many fields) come out as decode errors, so they are quarantined
    like any rejected message and the rows around them still go in.
    """
    import pandas as pd

    try:
        reader = pd.read_csv(
            handle,
            dtype=object,  # plain str cells: much faster to walk than arrow-backed strings
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
            on_bad_lines="warn",
            encoding="utf-8-sig",
            chunksize=chunk_size,
        )
    except pd.errors.EmptyDataError:
        return
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        yield RawItem(index=1, message=None, raw=b"", decode_error=f"unreadable CSV header: {exc}")
        return
    # pandas numbers records (a skipped malformed line included); a quoted cell spanning
    # lines makes the file's line number run ahead of the record number.
    record, line = 2, 2
    malformed: dict[int, str] = {}
    with reader:
        while True:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", pd.errors.ParserWarning)
                try:
                    frame = next(reader, None)
                except (pd.errors.ParserError, UnicodeDecodeError) as exc:
                    frame, failure = None, f"could not read the CSV from here on: {exc}"
                else:
                    failure = None
            malformed.update(_bad_lines(caught))
            columns = [] if frame is None else [str(name) for name in frame.columns]
            values = [] if frame is None else [frame[name].tolist() for name in frame.columns]
            for row in zip(*values, strict=True):
                while record in malformed:
                    yield _malformed(line, malformed.pop(record))
                    record, line = record + 1, line + 1
                cells = {k: v for k, v in zip(columns, row, strict=True) if isinstance(v, str)}
                if cells:  # a blank line or a row of empty cells is skipped
                    yield _item(line, {k: _from_text(k, v) for k, v in cells.items()})
                record += 1
                line += 1 + sum(value.count("\n") for value in cells.values())
            if frame is None:
                for number in sorted(malformed):
                    yield _malformed(line + number - record, malformed[number])
                if failure is not None:
                    yield _malformed(line, failure.strip())
                return


def _malformed(line: int, reason: str) -> RawItem:
    return RawItem(index=line, message=None, raw=b"", decode_error=reason)


def _bad_lines(caught: list[warnings.WarningMessage]) -> Iterator[tuple[int, str]]:
    for warning in caught:
        for text in str(warning.message).splitlines():
            if match := _BAD_LINE.match(text.strip()):
                yield int(match[1]), f"malformed CSV line: {match[2]}"


def parquet_rows(handle: IO[bytes]) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(handle).metadata.num_rows


def parquet_items(handle: IO[bytes], *, chunk_size: int) -> Iterator[RawItem]:
    """Parquet rows as RawItems numbered from 1, read a batch at a time."""
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(handle).iter_batches(batch_size=chunk_size):
        for row in batch.to_pylist():
            number += 1
            cells = {str(k): _plain(v) for k, v in row.items() if not _missing(v)}
            if cells:
                yield _item(number, cells)


def _plain(value: Any) -> Any:
    """A Parquet value as JSON: times as ISO 8601 (naive ones read as UTC), no nulls."""
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not _null(v)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
