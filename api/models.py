"""Per-user API tokens, each scoped to one organization. Only a prefix (to recognise a
token in a list) and the SHA-256 of the secret are stored, never the token itself."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models

from vitals.tenancy.models import TenantModel, hash_secret

API_TOKEN_PREFIX = "vt_"
SHOWN_PREFIX_LENGTH = 10


hash_api_token = hash_secret


class ApiToken(TenantModel):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=200, blank=True)
    prefix = models.CharField(max_length=16)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user_id} in {self.organization_id})"

    @staticmethod
    def generate_raw_token() -> str:
        return API_TOKEN_PREFIX + secrets.token_urlsafe(32)
