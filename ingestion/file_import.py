"""File imports: JSONL, CSV and Parquet, through the same path as the HTTP API.

Every format ends as `RawItem`s fed in chunks to `messages_ingest`, so validation, dedup,
quarantine and storage are the API's. Rows that are not Segment messages (warehouse
exports, flattened columns) are converted by `ingestion.tabular.to_segment_message`;
docs/file-import.md has the column mapping.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from django.utils import timezone

from ingestion.services import SOURCE_FILE, IngestResult, RawItem, decode_lines, messages_ingest
from ingestion.tabular import (
    ConversionError,
    csv_items,
    is_segment_message,
    parquet_items,
    parquet_rows,
    to_segment_message,
)
from vitals.tenancy.models import Product

DEFAULT_CHUNK = 20000  # messages per transaction: fewer statements per message
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
        done = 0
        for chunk in _chunks(items, chunk_size):
            result = messages_ingest(
                product=product,
                items=chunk,
                received_at=received_at,
                source=SOURCE_FILE,
                keep_own_received_at=True,
            )
            total.merge(result)
            if on_progress is not None:
                # Bytes read so far (pandas reads ahead, so CSV is approximate) or rows.
                now = min(end, chunk[-1].index if fmt == "parquet" else handle.tell())
                on_progress(now - done)
                done = now
        if on_progress is not None and done < end:
            on_progress(end - done)
    return total
