"""Organizations (tenants), their people, products and ingestion write keys."""

from __future__ import annotations

import hashlib
import secrets
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from vitals.tenancy.managers import TenantManager, UnscopedManager

slug_validator = RegexValidator(r"^[a-z0-9][a-z0-9-]*$", "Use lowercase letters, digits and -.")


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone name.")


class Organization(models.Model):
    slug = models.SlugField(max_length=64, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class TenantModel(models.Model):
    """Base of every tenant table: carries organization_id, scoped manager by default."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)

    objects = TenantManager()
    dangerously_unscoped = UnscopedManager()

    class Meta:
        abstract = True
        # Django's own machinery (unique validation, cascades, serializers) uses these;
        # application code goes through `objects`, which fails closed.
        base_manager_name = "dangerously_unscoped"
        default_manager_name = "dangerously_unscoped"


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


class Membership(TenantModel):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="uniq_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization_id} ({self.role})"

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


class Product(TenantModel):
    key = models.SlugField(max_length=64, validators=[slug_validator])
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="uniq_product_key")
        ]

    def __str__(self) -> str:
        return self.name


WRITE_KEY_PREFIX = "vk_"


def hash_secret(raw_secret: str) -> str:
    """Digest of a write key or API token as stored. They are 256-bit random tokens, so a
    fast unsalted digest is enough and lets a request find its key with one indexed lookup."""
    return hashlib.sha256(raw_secret.encode()).hexdigest()


hash_write_key = hash_secret


class WriteKey(TenantModel):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="write_keys")
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.product_id})"

    @staticmethod
    def generate_raw_key() -> str:
        return WRITE_KEY_PREFIX + secrets.token_urlsafe(32)
