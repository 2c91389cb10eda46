from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from health.catalog import config_export
from vitals.tenancy.models import Organization
from vitals.tenancy.scope import tenant_scope
from vitals.tenancy.selectors import product_in_scope


class Command(BaseCommand):
    help = "Print a product's configuration as JSON (the config.json format)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", required=True)
        parser.add_argument("--product", required=True)

    def handle(self, *args, org: str, product: str, **options) -> None:
        organization = Organization.objects.filter(slug=org).first()
        product_obj = organization and product_in_scope(organization=organization, key=product)
        if not product_obj:
            raise CommandError(f"No product {product!r} in organization {org!r}")
        with tenant_scope(organization, product_obj):
            self.stdout.write(json.dumps(config_export(product=product_obj), indent=2))
