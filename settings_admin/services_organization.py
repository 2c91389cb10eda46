"""Writes of the organization page: members and roles, write keys, the time zone."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from health.models import HealthRun
from health.services import health_recompute_enqueue
from settings_admin.services import AdminError, audit_record
from vitals.tenancy import services as tenancy_services
from vitals.tenancy.models import (
    Membership,
    Organization,
    Product,
    Role,
    WriteKey,
    validate_timezone,
)

# --- organization: members, write keys, time zone ----------------------------------------


def _admins_locked(*, organization: Organization) -> list[int]:
    """Ids of the organization's admin memberships, locked until commit: two demotions
    at once cannot both see another admin left."""
    return list(
        Membership.dangerously_unscoped.select_for_update()
        .filter(organization=organization, role=Role.ADMIN)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


@transaction.atomic
def member_add(
    *, organization: Organization, actor: AbstractBaseUser | None, email: str, role: str
) -> tuple[Membership, bool]:
    """Add a person by email; returns the membership and whether the user is new (then
    with an unusable password until one is set)."""
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise AdminError(f"{email!r} is not an email address.") from exc
    if role not in Role.values:
        raise AdminError(f"The role must be one of {', '.join(Role.values)}.")
    user_model = get_user_model()
    existing = user_model.objects.filter(username=email).first()
    if (
        existing is not None
        and Membership.dangerously_unscoped.filter(
            organization=organization, user=existing
        ).exists()
    ):
        raise AdminError(f"{email} is a member already: change their role in the table.")
    user = tenancy_services.user_get_or_create(email=email)
    membership = tenancy_services.membership_set(organization=organization, user=user, role=role)
    audit_record(
        organization=organization,
        user=actor,
        action="member.add",
        target=email,
        before=None,
        after={"role": role, "new_user": existing is None},
    )
    return membership, existing is None


@transaction.atomic
def membership_grant(
    *, organization: Organization, actor: AbstractBaseUser | None, user: AbstractBaseUser, role: str
) -> Membership:
    """Make `user` a member with `role`, new or not (the create_user command); audited as
    an addition or a role change, and not at all when nothing changes."""
    previous = (
        Membership.dangerously_unscoped.filter(organization=organization, user=user)
        .values_list("role", flat=True)
        .first()
    )
    membership = tenancy_services.membership_set(organization=organization, user=user, role=role)
    if previous != role:
        audit_record(
            organization=organization,
            user=actor,
            action="member.add" if previous is None else "member.role",
            target=user.get_username(),
            before=None if previous is None else {"role": previous},
            after={"role": role},
        )
    return membership


@transaction.atomic
def membership_role_change(
    *, membership: Membership, actor: AbstractBaseUser | None, role: str
) -> Membership:
    if role not in Role.values:
        raise AdminError(f"The role must be one of {', '.join(Role.values)}.")
    admins = _admins_locked(organization=membership.organization)
    membership.refresh_from_db()
    if membership.role == role:
        return membership
    if membership.pk in admins and len(admins) == 1:
        raise AdminError("An organization needs an admin: make someone else admin first.")
    before = {"role": membership.role}
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        organization=membership.organization,
        user=actor,
        action="member.role",
        target=membership.user.get_username(),
        before=before,
        after={"role": role},
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: AbstractBaseUser | None) -> None:
    admins = _admins_locked(organization=membership.organization)
    if membership.pk in admins and len(admins) == 1:
        raise AdminError("The last admin cannot be removed: make someone else admin first.")
    username = membership.user.get_username()
    before = {"role": membership.role}
    organization = membership.organization
    membership.delete()
    audit_record(
        organization=organization,
        user=actor,
        action="member.remove",
        target=username,
        before=before,
        after=None,
    )


@transaction.atomic
def write_key_issue(
    *, product: Product, actor: AbstractBaseUser | None, label: str = ""
) -> tuple[WriteKey, str]:
    """A new write key; the raw secret is returned to be shown once, never stored."""
    write_key, raw_key = tenancy_services.write_key_create(product=product, label=label.strip())
    audit_record(
        organization=product.organization,
        product=product,
        user=actor,
        action="write_key.create",
        target=f"write key {write_key.prefix}…",
        before=None,
        after={"product": product.key, "label": write_key.label},
    )
    return write_key, raw_key


@transaction.atomic
def write_key_withdraw(*, write_key: WriteKey, actor: AbstractBaseUser | None) -> WriteKey:
    if write_key.revoked_at is not None:
        return write_key
    tenancy_services.write_key_revoke(write_key=write_key)
    audit_record(
        organization=write_key.organization,
        product=write_key.product,
        user=actor,
        action="write_key.revoke",
        target=f"write key {write_key.prefix}…",
        before={"revoked": False},
        after={"revoked": True},
    )
    return write_key


@transaction.atomic
def organization_timezone_set(
    *, organization: Organization, actor: AbstractBaseUser | None, timezone_name: str
) -> list[HealthRun]:
    """Change the organization's time zone; days move, so every product is recomputed in
    full."""
    timezone_name = timezone_name.strip()
    try:
        validate_timezone(timezone_name)
    except ValidationError as exc:
        raise AdminError(f"{timezone_name!r} is not an IANA time zone name.") from exc
    if timezone_name == organization.timezone:
        return []
    before = {"timezone": organization.timezone}
    organization.timezone = timezone_name
    organization.save(update_fields=["timezone"])
    audit_record(
        organization=organization,
        user=actor,
        action="organization.timezone",
        target=organization.name,
        before=before,
        after={"timezone": timezone_name},
    )
    runs = []
    for product in Product.dangerously_unscoped.filter(organization=organization):
        product.organization = organization
        runs.append(health_recompute_enqueue(product=product, full=True))
    return runs
