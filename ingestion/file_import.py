"""File imports: JSONL of Segment messages, through the same path as the HTTP API."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

from django.utils import timezone

from ingestion.services import SOURCE_FILE, IngestResult, RawItem, decode_lines, messages_ingest
from vitals.tenancy.models import Product

DEFAULT_CHUNK = 5000


def _chunks(items: Iterator[RawItem], size: int) -> Iterator[list[RawItem]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def file_ingest(
    *,
    product: Product,
    path: Path,
    chunk_size: int = DEFAULT_CHUNK,
    on_progress: Callable[[int], None] | None = None,
) -> IngestResult:
    """Ingest a JSONL file chunk by chunk; each chunk commits on its own, so an interrupted
    import resumes safely by running it again (dedup drops what was already stored)."""
    total = IngestResult()
    received_at = timezone.now()
    with path.open("rb") as handle:
        for chunk in _chunks(decode_lines(handle), chunk_size):
            result = messages_ingest(
                product=product,
                items=chunk,
                received_at=received_at,
                source=SOURCE_FILE,
                keep_own_received_at=True,
            )
            total.merge(result)
            if on_progress is not None:
                on_progress(sum(len(item.raw or b"") + 1 for item in chunk))
    return total
