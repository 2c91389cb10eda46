"""File imports: JSONL, CSV and Parquet, through the same path as the HTTP API.

Every format ends as `RawItem`s fed in chunks to `messages_ingest`, so validation, dedup,
quarantine and storage are the API's. Rows that are not Segment messages (warehouse
exports, flattened columns) are converted by `ingestion.tabular.to_segment_message`;
docs/file-import.md has the column mapping.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from django.utils import timezone

from ingestion.services import (
    SOURCE_FILE,
    IngestResult,
    PreparedChunk,
    RawItem,
    decode_lines,
    messages_prepare,
    messages_store,
)
from ingestion.tabular import (
    ConversionError,
    csv_items,
    is_segment_message,
    parquet_items,
    parquet_rows,
    to_segment_message,
)
from vitals.tenancy.models import Product

# Messages per transaction: big enough that the per-chunk statements cost little per
# message, small enough that the stage stays in PostgreSQL's temporary buffers.
DEFAULT_CHUNK = 20000
FORMATS = ("jsonl", "csv", "parquet")
_EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class FileFormatError(ValueError):
    """The file cannot be read as the format asked for."""


def file_format(path: Path, requested: str = "auto") -> str:
    """The format to read: as requested, else from the extension (JSONL when unknown)."""
    if requested != "auto":
        if requested not in FORMATS:
            raise FileFormatError(f"unknown format {requested!r}: expected {', '.join(FORMATS)}")
        return requested
    return _EXTENSIONS.get(path.suffix.lower(), "jsonl")


def file_progress_total(*, path: Path, fmt: str) -> tuple[int, str]:
    """What a progress bar counts for this file: rows for Parquet, bytes otherwise."""
    if fmt == "parquet":
        with path.open("rb") as handle:
            return _parquet_rows(handle), "row"
    return path.stat().st_size, "B"


def _chunks(items: Iterator[RawItem], size: int) -> Iterator[list[RawItem]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def jsonl_items(lines: Iterable[bytes]) -> Iterator[RawItem]:
    """JSONL lines; a line that is a warehouse row rather than a message is converted."""
    for item in decode_lines(lines):
        message = item.message
        if not isinstance(message, dict) or is_segment_message(message):
            yield item  # passed on exactly as read, so the stored raw is the line itself
            continue
        try:
            yield RawItem(index=item.index, message=to_segment_message(message))
        except ConversionError as exc:
            yield RawItem(index=item.index, message=None, raw=item.raw, decode_error=exc.reason)


def _parquet_rows(handle: IO[bytes]) -> int:
    try:
        return parquet_rows(handle)
    except Exception as exc:  # pyarrow raises several kinds for a file that is not Parquet
        raise FileFormatError(f"not a Parquet file: {exc}") from exc


def read_ahead[T](items: Iterator[T], *, depth: int = 2) -> Iterator[T]:
    """`items`, produced by a thread up to `depth` ahead of the consumer.

    File imports parse and validate the next chunk (Python) while the database stores the
    current one: the thread runs whenever the main one waits for PostgreSQL.
    """
    slots: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=depth)
    stopped = threading.Event()

    def put(entry: tuple[bool, object]) -> bool:
        while not stopped.is_set():
            try:
                slots.put(entry, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put((False, exc))
            return
        put((False, None))

    thread = threading.Thread(target=produce, name="ingest-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            more, value = slots.get()
            if not more:
                if value is not None:
                    raise value  # type: ignore[misc]
                return
            yield value  # type: ignore[misc]
    finally:
        stopped.set()
        thread.join()


def file_ingest(
    *,
    product: Product,
    path: Path,
    fmt: str = "auto",
    chunk_size: int = DEFAULT_CHUNK,
    on_progress: Callable[[int], None] | None = None,
) -> IngestResult:
    """Ingest a file chunk by chunk; each chunk commits on its own, so an interrupted
    import resumes safely by running it again (dedup drops what was already stored).

    `on_progress` receives increments of what `file_progress_total` counts.
    """
    fmt = file_format(path, fmt)
    total = IngestResult()
    received_at = timezone.now()
    with path.open("rb") as handle:
        items: Iterator[RawItem]
        if fmt == "parquet":
            end = _parquet_rows(handle)
            items = parquet_items(handle, chunk_size=chunk_size)
        elif fmt == "csv":
            end = path.stat().st_size
            items = csv_items(handle, chunk_size=chunk_size)
        else:
            end = path.stat().st_size
            items = jsonl_items(handle)

        def prepared_chunks() -> Iterator[tuple[PreparedChunk, int]]:
            for chunk in _chunks(items, chunk_size):
                prepared = messages_prepare(
                    chunk, received_at=received_at, keep_own_received_at=True
                )
                # Bytes read so far (pandas reads ahead, so CSV is approximate) or rows.
                yield prepared, min(end, chunk[-1].index if fmt == "parquet" else handle.tell())

        done = 0
        for prepared, now in read_ahead(prepared_chunks()):
            total.merge(messages_store(product=product, prepared=prepared, source=SOURCE_FILE))
            if on_progress is not None:
                on_progress(now - done)
                done = now
        if on_progress is not None and done < end:
            on_progress(end - done)
    return total
