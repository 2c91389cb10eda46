from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from vitals.tenancy.services import organization_create


class Command(BaseCommand):
    help = "Create an organization (tenant)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--timezone", default="UTC", help="IANA time zone, e.g. Europe/Paris")

    def handle(self, *args, slug: str, name: str, timezone: str, **options) -> None:
        try:
            organization = organization_create(slug=slug, name=name, timezone_name=timezone)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"Created organization {organization.slug} ({organization.timezone})")
