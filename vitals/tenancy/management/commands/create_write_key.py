from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from settings_admin.services_organization import write_key_issue
from vitals.tenancy.models import Organization
from vitals.tenancy.scope import tenant_scope
from vitals.tenancy.selectors import product_in_scope


class Command(BaseCommand):
    help = "Create an ingestion write key for a product. The key is printed once, last line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", required=True, help="organization slug")
        parser.add_argument("--product", required=True, help="product key")
        parser.add_argument("--label", default="")

    def handle(self, *args, org: str, product: str, label: str, **options) -> None:
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization with slug {org!r}")
        product_obj = product_in_scope(organization=organization, key=product)
        if product_obj is None:
            raise CommandError(f"No product {product!r} in organization {org!r}")
        # Audited like the settings page's button, with no person (the command line).
        with tenant_scope(organization, product_obj):
            write_key, raw_key = write_key_issue(product=product_obj, actor=None, label=label)
        self.stdout.write(
            f"Write key {write_key.prefix}… for {organization.slug}/{product_obj.key}. "
            "Store it now: it is not shown again."
        )
        self.stdout.write(raw_key)
