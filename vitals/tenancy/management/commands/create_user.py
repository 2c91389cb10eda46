from __future__ import annotations

import secrets

from django.core.management.base import BaseCommand, CommandError

from settings_admin.services_organization import membership_grant
from vitals.tenancy.models import Organization, Role
from vitals.tenancy.scope import tenant_scope
from vitals.tenancy.services import user_get_or_create


class Command(BaseCommand):
    help = "Create (or update) a user and make them a member of an organization."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--org", required=True, help="organization slug")
        parser.add_argument("--role", choices=Role.values, default=Role.MEMBER)
        parser.add_argument("--password", help="defaults to a random one, printed once")

    def handle(self, *args, email: str, org: str, role: str, password: str | None, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization with slug {org!r}")
        generated = password is None
        password = password or secrets.token_urlsafe(12)
        user = user_get_or_create(email=email, password=password)
        with tenant_scope(organization):
            membership_grant(organization=organization, actor=None, user=user, role=role)
        self.stdout.write(f"{user.get_username()} is {role} of {organization.slug}")
        if generated:
            self.stdout.write(f"password: {password}")
