"""Writes for API tokens; each one is audited (settings_admin's audit log)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from api.models import SHOWN_PREFIX_LENGTH, ApiToken, hash_api_token
from settings_admin.services import audit_record
from vitals.tenancy.models import Membership, Organization


class NotAMemberError(ValueError):
    """Tokens are only issued to members of the organization they open."""


@transaction.atomic
def api_token_create(
    *,
    organization: Organization,
    user: AbstractBaseUser,
    name: str = "",
    actor: AbstractBaseUser | None = None,
) -> tuple[ApiToken, str]:
    """A new token and its secret; the secret is shown once and never stored. `actor` is
    who issued it (None: the command line)."""
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
    audit_record(
        organization=organization,
        user=actor,
        action="api_token.create",
        target=_token_label(token),
        after={"owner": user.get_username(), "name": name},
    )
    return token, raw


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: AbstractBaseUser | None = None) -> None:
    revoked = ApiToken.dangerously_unscoped.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if revoked:
        audit_record(
            organization=token.organization,
            user=actor,
            action="api_token.revoke",
            target=_token_label(token),
            before={"revoked": False},
            after={"revoked": True},
        )


def _token_label(token: ApiToken) -> str:
    return f"API token {token.prefix}… of {token.user.get_username()}"
