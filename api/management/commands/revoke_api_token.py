from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from api.models import ApiToken
from api.services import api_token_revoke
from vitals.tenancy.models import Organization
from vitals.tenancy.scope import tenant_scope


class Command(BaseCommand):
    help = "Revoke a REST API token of an organization, named by the prefix it is listed by."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", required=True, help="organization slug")
        parser.add_argument("--prefix", required=True, help="the token's first characters")

    def handle(self, *args, org: str, prefix: str, **options) -> None:
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization {org!r}.")
        with tenant_scope(organization):
            tokens = list(
                ApiToken.objects.select_related("user", "organization").filter(
                    prefix__startswith=prefix, revoked_at__isnull=True
                )
            )
            if len(tokens) != 1:
                raise CommandError(f"{len(tokens)} live tokens start with {prefix!r}; give one.")
            api_token_revoke(token=tokens[0])
        self.stdout.write(f"Revoked {tokens[0].prefix}… of {tokens[0].user.get_username()}")
