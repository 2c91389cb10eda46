"""Writes for organizations, people, products and write keys."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from vitals.tenancy.models import (
    Membership,
    Organization,
    Product,
    Role,
    WriteKey,
    hash_write_key,
)
from vitals.tenancy.scope import tenant_scope


@transaction.atomic
def organization_create(*, slug: str, name: str, timezone_name: str = "UTC") -> Organization:
    organization = Organization(slug=slug, name=name, timezone=timezone_name)
    organization.full_clean()
    organization.save()
    return organization


@transaction.atomic
def product_create(*, organization: Organization, key: str, name: str) -> Product:
    product = Product(organization=organization, key=key, name=name)
    with tenant_scope(organization):
        product.full_clean()
        product.save()
    return product


@transaction.atomic
def user_get_or_create(*, email: str, password: str | None = None) -> AbstractBaseUser:
    user_model = get_user_model()
    email = email.strip().lower()
    user, created = user_model.objects.get_or_create(username=email, defaults={"email": email})
    if password is not None:
        user.set_password(password)
        user.save(update_fields=["password"])
    elif created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


@transaction.atomic
def membership_set(
    *, organization: Organization, user: AbstractBaseUser, role: str = Role.MEMBER
) -> Membership:
    if role not in Role.values:
        raise ValueError(f"role must be one of {Role.values}, got {role!r}")
    with tenant_scope(organization):
        membership, _ = Membership.objects.update_or_create(
            organization=organization, user=user, defaults={"role": role}
        )
    return membership


@transaction.atomic
def write_key_create(*, product: Product, label: str = "") -> tuple[WriteKey, str]:
    """Returns the stored key and the raw secret, which is never stored and shown once."""
    raw_key = WriteKey.generate_raw_key()
    with tenant_scope(product.organization):
        write_key = WriteKey.objects.create(
            organization_id=product.organization_id,
            product=product,
            prefix=raw_key[:10],
            key_hash=hash_write_key(raw_key),
            label=label,
        )
    return write_key, raw_key


@transaction.atomic
def write_key_revoke(*, write_key: WriteKey) -> None:
    write_key.revoked_at = timezone.now()
    with tenant_scope(write_key.organization):
        write_key.save(update_fields=["revoked_at"])
