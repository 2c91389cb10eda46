"""Writes for API tokens."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from api.models import SHOWN_PREFIX_LENGTH, ApiToken, hash_api_token
from vitals.tenancy.models import Membership, Organization


class NotAMemberError(ValueError):
    """Tokens are only issued to members of the organization they open."""


@transaction.atomic
def api_token_create(
    *, organization: Organization, user: AbstractBaseUser, name: str = ""
) -> tuple[ApiToken, str]:
    """A new token and its secret; the secret is shown once and never stored."""
    if not Membership.dangerously_unscoped.filter(organization=organization, user=user).exists():
        raise NotAMemberError(f"{user} is not a member of {organization.slug}")
    raw = ApiToken.generate_raw_token()
    token = ApiToken.dangerously_unscoped.create(
        organization=organization,
        user=user,
        name=name,
        prefix=raw[:SHOWN_PREFIX_LENGTH],
        token_hash=hash_api_token(raw),
    )
    return token, raw


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.dangerously_unscoped.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
