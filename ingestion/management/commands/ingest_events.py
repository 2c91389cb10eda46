from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ingestion.file_import import (
    DEFAULT_CHUNK,
    FORMATS,
    FileFormatError,
    file_format,
    file_ingest,
    file_progress_total,
)
from vitals.tenancy.models import Organization
from vitals.tenancy.scope import tenant_scope
from vitals.tenancy.selectors import product_in_scope


class Command(BaseCommand):
    # The system checks import every URLconf and view: a second of start-up, for nothing
    # this command uses (`manage.py check` runs them).
    requires_system_checks: list[str] = []
    help = (
        "Ingest a file of Segment messages into a product: JSONL, CSV or Parquet,"
        " Segment-shaped or a warehouse export (see docs/file-import.md)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--org", required=True, help="organization slug")
        parser.add_argument("--product", required=True, help="product key")
        parser.add_argument(
            "--format",
            dest="fmt",
            choices=("auto", *FORMATS),
            default="auto",
            help="file format; auto: .csv is CSV, .parquet/.pq Parquet, anything else JSONL",
        )
        parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, path: Path, org: str, product: str, **options) -> None:
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization with slug {org!r}")
        product_obj = product_in_scope(organization=organization, key=product)
        if product_obj is None:
            raise CommandError(f"No product {product!r} in organization {org!r}")

        fmt = file_format(path, options["fmt"])
        try:
            total, unit = file_progress_total(path=path, fmt=fmt)
        except FileFormatError as exc:
            raise CommandError(f"{path}: {exc}") from exc
        progress = tqdm(
            total=total,
            unit=unit,
            unit_scale=unit == "B",
            desc=path.name,
            disable=options["no_progress"],
            file=self.stderr._out,
        )
        with tenant_scope(organization, product_obj), progress:
            result = file_ingest(
                product=product_obj,
                path=path,
                fmt=fmt,
                chunk_size=options["chunk_size"],
                on_progress=progress.update,
            )
        for outcome in result.outcomes:
            if outcome.status == "rejected":
                self.stdout.write(f"line {outcome.index}: rejected: {outcome.reason}")
        self.stdout.write(
            f"accepted {result.accepted}, rejected {result.rejected}, duplicate {result.duplicate}"
        )
