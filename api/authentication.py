"""`Authorization: Bearer <token>` to a user and the one organization the token opens.

The token is the API's equivalent of the /o/<slug>/ URL: the organization comes from it
and a membership check, never from the user. The scope itself is entered by the base
view (api/views.py) for the rest of the request and reset when it ends.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from api.models import ApiToken, hash_api_token
from vitals.tenancy.definer import definer_rows, instance_from, organization_from
from vitals.tenancy.scope import tenant_scope

LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[object, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header.")
        try:
            raw = header[1].decode()
        except UnicodeError as error:
            raise exceptions.AuthenticationFailed("Invalid token.") from error
        token = api_token_lookup(raw_token=raw)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) when no credentials were sent.
        return self.keyword


def api_token_lookup(*, raw_token: str) -> ApiToken | None:
    """The live token with this secret, when its user is active and still a member."""
    # Tokens are read before any scope exists (the token decides it): a SECURITY DEFINER
    # function finds the token, checks the membership, and returns ids only.
    rows = definer_rows("vitals_api_token_lookup", hash_api_token(raw_token))
    if not rows:
        return None
    token_id, user_id, last_used_at, *organization_row = rows[0]
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return None
    organization = organization_from(*organization_row)
    token = instance_from(
        ApiToken,
        id=token_id,
        organization_id=organization.pk,
        user_id=user_id,
        last_used_at=last_used_at,
    )
    token.user, token.organization = user, organization
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        with tenant_scope(organization):
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
