from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from health.exports import health_export
from health.management.commands._product_arg import resolve_as_of, resolve_product
from vitals.tenancy.scope import tenant_scope


class Command(BaseCommand):
    help = "Write accounts.csv, summary.json and drilldown.json for a computed as-of day."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", required=True)
        parser.add_argument("--product", required=True)
        parser.add_argument("--as-of", dest="as_of")
        parser.add_argument("--out", required=True, type=Path)

    def handle(self, *args, org: str, product: str, as_of: str | None, out: Path, **options):
        product_obj = resolve_product(org, product)
        day = resolve_as_of(as_of, product_obj)
        with tenant_scope(product_obj.organization, product_obj):
            try:
                health_export(product=product_obj, as_of=day, out_dir=out)
            except LookupError as exc:
                raise CommandError(f"{exc}; run compute_health first") from exc
        self.stdout.write(f"Wrote {out}/accounts.csv, summary.json, drilldown.json")
