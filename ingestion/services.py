"""The one ingestion path: the HTTP API and file imports both end in `messages_ingest`.

Python validates each message (it has to parse it anyway); everything after that is
set-based SQL over a COPY-filled staging table (`ingestion/storage.py`), in one
transaction per chunk:
dedup against the (product, messageId) ledger, upsert users/accounts/event keys, record
memberships and traits, insert events with their account attributed (SPEC section 3),
re-attribute older events a new `group` call changes, mark touched days, count.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson
from django.db import OperationalError, connection, transaction
from psycopg.errors import DeadlockDetected

from ingestion.normalize import NormalizedMessage, NotANumber, Rejected, normalize
from ingestion.storage import chunk_store
from vitals.tenancy.models import Product, WriteKey

logger = logging.getLogger(__name__)

SOURCE_API = "api"
SOURCE_FILE = "file"


@dataclass(slots=True)
class MessageOutcome:
    index: int  # position in the batch, or line number for files
    status: str  # "accepted", "duplicate" or "rejected"
    reason: str | None = None
    warning: str | None = None


@dataclass
class IngestResult:
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    outcomes: list[MessageOutcome] = field(default_factory=list)

    def merge(self, other: IngestResult) -> None:
        self.accepted += other.accepted
        self.duplicate += other.duplicate
        self.rejected += other.rejected
        self.outcomes.extend(other.outcomes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
            "results": [
                {
                    "index": o.index,
                    "status": o.status,
                    **({"reason": o.reason} if o.reason else {}),
                    **({"warning": o.warning} if o.warning else {}),
                }
                for o in self.outcomes
            ],
        }


@dataclass(slots=True)
class RawItem:
    """One message as it arrived: decoded JSON (or the decoding error) and its position."""

    index: int
    message: Any
    raw: bytes | None = None
    decode_error: str | None = None


def decode_lines(lines: Iterable[bytes], *, first_line: int = 1) -> Iterator[RawItem]:
    """JSONL: one RawItem per non-blank line, numbered from `first_line`."""
    for number, line in enumerate(lines, start=first_line):
        stripped = line.strip()
        if not stripped:
            continue
        try:
            yield RawItem(index=number, message=orjson.loads(stripped), raw=stripped)
        except orjson.JSONDecodeError as exc:
            yield RawItem(index=number, message=None, raw=stripped, decode_error=f"not JSON: {exc}")


@dataclass
class PreparedChunk:
    """A chunk validated in Python (no database): what `messages_store` writes."""

    received_at: datetime
    valid: list[tuple[int, NormalizedMessage]] = field(default_factory=list)
    rejected: list[tuple[int, str, str]] = field(default_factory=list)
    outcomes: list[MessageOutcome] = field(default_factory=list)
    months: set[tuple[int, int]] = field(default_factory=set)  # (year, month) of event times, UTC
    types: set[int] = field(default_factory=set)


def messages_prepare(
    items: Iterable[RawItem], *, received_at: datetime, keep_own_received_at: bool = False
) -> PreparedChunk:
    """Validate a chunk; pure Python, so file imports run it ahead in another thread."""
    prepared = PreparedChunk(received_at=received_at)
    valid, rejected, outcomes = prepared.valid, prepared.rejected, prepared.outcomes
    months, types = prepared.months, prepared.types
    seen_in_chunk: set[str] = set()
    for item in items:
        if item.decode_error is not None:
            rejected.append((item.index, item.decode_error, _payload_text(item)))
            outcomes.append(MessageOutcome(item.index, "rejected", item.decode_error))
            continue
        try:
            message = normalize(
                item.message,
                received_at=received_at,
                raw=item.raw,
                keep_own_received_at=keep_own_received_at,
            )
        except Rejected as exc:
            rejected.append((item.index, exc.reason, _payload_text(item)))
            outcomes.append(MessageOutcome(item.index, "rejected", exc.reason))
            continue
        if message.message_id in seen_in_chunk:
            # The first copy wins; later copies in the same chunk are duplicates.
            outcomes.append(MessageOutcome(item.index, "duplicate"))
            continue
        seen_in_chunk.add(message.message_id)
        valid.append((item.index, message))
        event_time = message.event_time
        months.add((event_time.year, event_time.month))
        types.add(message.type_code)
    return prepared


def messages_ingest(
    *,
    product: Product,
    items: Iterable[RawItem],
    received_at: datetime,
    source: str,
    write_key: WriteKey | None = None,
    keep_own_received_at: bool = False,
) -> IngestResult:
    """Validate, dedup and store one chunk of messages in a single transaction."""
    prepared = messages_prepare(
        items, received_at=received_at, keep_own_received_at=keep_own_received_at
    )
    return messages_store(product=product, prepared=prepared, source=source, write_key=write_key)


def messages_store(
    *,
    product: Product,
    prepared: PreparedChunk,
    source: str,
    write_key: WriteKey | None = None,
) -> IngestResult:
    """Dedup and store a validated chunk in a single transaction.

    Concurrent chunks naming the same people lock their rows in several statements; when
    PostgreSQL breaks a deadlock between two of them, the chunk it rolled back is stored
    again (unless a caller's transaction holds it, which must then retry itself)."""
    # Inside a caller's transaction an earlier chunk's stage rows may still be there.
    nested = connection.in_atomic_block
    attempt = 1
    while True:
        try:
            return _store_once(
                product=product,
                prepared=prepared,
                source=source,
                write_key=write_key,
                nested=nested,
            )
        except OperationalError as exc:
            deadlock = isinstance(exc.__cause__, DeadlockDetected)
            if nested or not deadlock or attempt == DEADLOCK_ATTEMPTS:
                raise
            logger.warning("ingestion: chunk rolled back by a deadlock, attempt %d", attempt)
            attempt += 1


# A chunk rolled back by deadlock detection is tried this many times in all.
DEADLOCK_ATTEMPTS = 5


def _store_once(
    *,
    product: Product,
    prepared: PreparedChunk,
    source: str,
    write_key: WriteKey | None,
    nested: bool,
) -> IngestResult:
    received_at, valid, rejected = prepared.received_at, prepared.valid, prepared.rejected
    result = IngestResult(outcomes=list(prepared.outcomes))
    chunk_duplicates = len(prepared.outcomes) - len(rejected)
    with transaction.atomic():
        duplicates = (
            chunk_store(
                org_id=product.organization_id,
                product_id=product.pk,
                timezone_name=product.organization.timezone,
                messages=valid,
                months={date(year, month, 1) for year, month in prepared.months},
                types=prepared.types,
                nested=nested,
                counter=(received_at.date(), len(rejected), chunk_duplicates),
            )
            if valid
            else set()
        )
        _quarantine(
            product=product,
            write_key=write_key,
            received_at=received_at,
            source=source,
            rows=rejected,
        )
        outcomes = result.outcomes
        in_order = not outcomes  # valid messages come in index order
        for seq, (index, message) in enumerate(valid):
            if seq in duplicates:
                outcomes.append(MessageOutcome(index, "duplicate"))
            else:
                outcomes.append(MessageOutcome(index, "accepted", None, message.warning))
        if not in_order:
            outcomes.sort(key=_outcome_index)
        result.accepted = len(valid) - len(duplicates)
        result.rejected = len(rejected)
        result.duplicate = len(result.outcomes) - result.accepted - result.rejected
        if not valid:  # else counted by chunk_store, in its statements
            _count(product=product, day=received_at.date(), result=result)
    return result


def _outcome_index(outcome: MessageOutcome) -> int:
    return outcome.index


def _payload_text(item: RawItem) -> str:
    if item.raw is not None:
        return item.raw.decode("utf-8", errors="replace")
    try:
        return orjson.dumps(item.message).decode()
    except orjson.JSONEncodeError:
        pass
    # What orjson cannot write (see normalize.json_dumps), the stdlib can, mostly: lone
    # surrogates escaped, NaN as NaN; past its recursion limit the payload is not kept.
    try:
        return json.dumps(item.message, default=_number_of)
    except (RecursionError, ValueError, TypeError) as exc:
        return f"(payload not kept: {exc})"


def _number_of(value: Any) -> float:
    if isinstance(value, NotANumber):
        return float(value.text)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _quarantine(
    *,
    product: Product,
    write_key: WriteKey | None,
    received_at: datetime,
    source: str,
    rows: list[tuple[int, str, str]],
) -> None:
    if not rows:
        return
    # INSERT, not COPY: COPY FROM is refused on a table with row-level security.
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO ingestion_rejectedmessage (organization_id, product_id, write_key_id,"
            " received_at, source, line_number, reason, payload)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    product.organization_id,
                    product.pk,
                    write_key.pk if write_key else None,
                    received_at,
                    source,
                    index if source == "file" else None,
                    reason[:500],
                    payload.replace("\x00", ""),
                )
                for index, reason, payload in rows
            ],
        )


def _count(*, product: Product, day: date, result: IngestResult) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO ingestion_ingestcounter
                (organization_id, product_id, day, accepted, rejected, duplicate)
            VALUES (%s, %s, %s, %s, %s, %s)
            ON CONFLICT (product_id, day) DO UPDATE SET
                accepted = ingestion_ingestcounter.accepted + EXCLUDED.accepted,
                rejected = ingestion_ingestcounter.rejected + EXCLUDED.rejected,
                duplicate = ingestion_ingestcounter.duplicate + EXCLUDED.duplicate
            """,
            [
                product.organization_id,
                product.pk,
                day,
                result.accepted,
                result.rejected,
                result.duplicate,
            ],
        )
