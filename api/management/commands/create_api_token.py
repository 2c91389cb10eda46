from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from api.services import NotAMemberError, api_token_create
from vitals.tenancy.models import Organization
from vitals.tenancy.scope import tenant_scope


class Command(BaseCommand):
    help = "Create a REST API token for a member of an organization; prints it once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", required=True, help="organization slug")
        parser.add_argument("--email", required=True, help="the member's email")
        parser.add_argument("--name", default="", help="a label to recognise the token by")

    def handle(self, *args, org: str, email: str, name: str, **options) -> None:
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization {org!r}.")
        user = get_user_model().objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No user with email {email!r}.")
        try:
            with tenant_scope(organization):
                _, raw = api_token_create(organization=organization, user=user, name=name)
        except NotAMemberError as error:
            raise CommandError(str(error)) from error
        self.stderr.write("Store this token now: it is not shown again.")
        self.stdout.write(raw)
