from __future__ import annotations

from django.core.management.base import BaseCommand

from health.management.commands._product_arg import resolve_as_of, resolve_product
from health.services import health_compute
from vitals.tenancy.scope import tenant_scope


class Command(BaseCommand):
    help = "Compute account health for a product as of a day (default: yesterday)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", required=True)
        parser.add_argument("--product", required=True)
        parser.add_argument("--as-of", dest="as_of")
        parser.add_argument("--full", action="store_true", help="rebuild from raw events")

    def handle(self, *args, org: str, product: str, as_of: str | None, full: bool, **options):
        product_obj = resolve_product(org, product)
        day = resolve_as_of(as_of, product_obj)
        with tenant_scope(product_obj.organization, product_obj):
            run = health_compute(product=product_obj, as_of=day, full=full)
        seconds = (run.finished_at - run.started_at).total_seconds()
        self.stdout.write(f"Computed {run.rows} accounts as of {day} in {seconds:.2f}s")
