"""Members and roles, write keys and the time zone: audited, and the last admin stays."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from health.models import HealthRun
from settings_admin.models import AuditEntry
from vitals.tenancy.models import Membership, Organization, WriteKey, hash_write_key

ORG = {"org_slug": "acme"}


def url(name, **kwargs):
    return reverse(name, kwargs={**ORG, **kwargs})


def membership_of(user):
    return Membership.dangerously_unscoped.get(user=user, organization__slug="acme")


def test_it_adds_a_new_person_by_email_with_no_password(alice_client, alice):
    response = alice_client.post(
        url("member_add"), {"email": "Dana@Acme.test", "role": "member"}, follow=True
    )
    text = response.content.decode()
    assert "This is a new user with no password yet" in text
    dana = get_user_model().objects.get(username="dana@acme.test")
    assert not dana.has_usable_password()
    assert membership_of(dana).role == "member"
    entry = AuditEntry.dangerously_unscoped.get()
    assert (entry.user, entry.action, entry.target) == (alice, "member.add", "dana@acme.test")
    assert entry.after == {"role": "member", "new_user": True}


def test_it_adds_an_existing_user_without_touching_their_password(alice_client, charlie):
    alice_client.post(url("member_add"), {"email": "charlie@globex.test", "role": "admin"})
    charlie.refresh_from_db()
    assert charlie.has_usable_password()
    assert membership_of(charlie).role == "admin"


def test_it_refuses_a_bad_email_or_a_member_twice(alice_client, bob):
    response = alice_client.post(url("member_add"), {"email": "not-an-email", "role": "member"})
    assert response.status_code == 422
    assert "Enter a valid email address." in response.content.decode()
    response = alice_client.post(url("member_add"), {"email": "bob@acme.test", "role": "admin"})
    assert response.status_code == 422
    assert "is a member already" in response.content.decode()
    assert membership_of(bob).role == "member"
    assert AuditEntry.dangerously_unscoped.count() == 0


def test_it_changes_a_role_and_removes_a_member(alice_client, bob):
    membership = membership_of(bob)
    alice_client.post(url("member_role", membership_id=membership.pk), {"role": "admin"})
    assert membership_of(bob).role == "admin"
    alice_client.post(url("member_remove", membership_id=membership.pk))
    assert not Membership.dangerously_unscoped.filter(pk=membership.pk).exists()
    assert list(
        AuditEntry.dangerously_unscoped.order_by("id").values_list("action", flat=True)
    ) == ["member.role", "member.remove"]


def test_it_never_removes_or_demotes_the_last_admin(alice_client, alice, bob):
    membership = membership_of(alice)
    response = alice_client.post(url("member_remove", membership_id=membership.pk), follow=True)
    assert "The last admin cannot be removed" in response.content.decode()
    response = alice_client.post(
        url("member_role", membership_id=membership.pk), {"role": "member"}, follow=True
    )
    assert "An organization needs an admin" in response.content.decode()
    assert membership_of(alice).role == "admin"
    assert AuditEntry.dangerously_unscoped.count() == 0


def test_it_lets_an_admin_step_down_when_another_admin_remains(alice_client, alice, bob):
    alice_client.post(url("member_role", membership_id=membership_of(bob).pk), {"role": "admin"})
    alice_client.post(url("member_role", membership_id=membership_of(alice).pk), {"role": "member"})
    assert membership_of(alice).role == "member"
    # Now a member: the settings are closed to her.
    assert alice_client.get(url("settings_home")).status_code == 403


def test_it_shows_a_new_write_key_once_and_stores_only_its_hash(alice_client, alice, product):
    response = alice_client.post(url("write_key_create"), {"product": "app", "label": "server"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    raw_key = response.context["raw_key"]
    text = response.content.decode()
    assert raw_key.startswith("vk_") and raw_key in text
    assert "shown <strong>only this once</strong>" in text
    write_key = WriteKey.dangerously_unscoped.get()
    assert write_key.key_hash == hash_write_key(raw_key)
    assert write_key.label == "server"
    stored = [str(value) for value in WriteKey.dangerously_unscoped.values_list()[0]]
    assert not any(raw_key in value for value in stored)
    entry = AuditEntry.dangerously_unscoped.get()
    assert entry.action == "write_key.create" and raw_key not in str(entry.after)
    # Never again: the settings page shows the prefix only.
    again = alice_client.get(url("settings_home")).content.decode()
    assert raw_key not in again and write_key.prefix in again


def test_it_revokes_a_write_key(alice_client, product):
    alice_client.post(url("write_key_create"), {"product": "app"})
    write_key = WriteKey.dangerously_unscoped.get()
    alice_client.post(url("write_key_revoke", write_key_id=write_key.pk))
    write_key.refresh_from_db()
    assert write_key.revoked_at is not None
    assert "Revoked" in alice_client.get(url("settings_home")).content.decode()
    assert AuditEntry.dangerously_unscoped.filter(action="write_key.revoke").count() == 1


def test_it_changes_the_time_zone_and_recomputes_every_product_in_full(alice_client, product, org):
    from vitals.tenancy.services import product_create

    product_create(organization=org, key="mobile", name="Acme Mobile")
    response = alice_client.post(url("timezone_update"), {"timezone": "Asia/Kolkata"}, follow=True)
    assert "recomputed in full" in response.content.decode()
    assert Organization.objects.get(slug="acme").timezone == "Asia/Kolkata"
    runs = HealthRun.dangerously_unscoped.filter(organization=org)
    assert runs.count() == 2 and all(run.full for run in runs)
    entry = AuditEntry.dangerously_unscoped.get()
    assert (entry.before, entry.after) == ({"timezone": "UTC"}, {"timezone": "Asia/Kolkata"})


@pytest.mark.parametrize("value", ["Mars/Olympus", "utc+2", ""])
def test_it_refuses_a_time_zone_that_is_not_iana(alice_client, product, value):
    response = alice_client.post(url("timezone_update"), {"timezone": value})
    assert response.status_code == 422
    assert f'value="{value}"' in response.content.decode()
    assert Organization.objects.get(slug="acme").timezone == "UTC"
    assert HealthRun.dangerously_unscoped.count() == 0


def test_it_lists_the_audit_log_of_my_organization_only(alice_client, charlie_client, bob):
    alice_client.post(url("member_role", membership_id=membership_of(bob).pk), {"role": "admin"})
    text = alice_client.get(url("audit_log")).content.decode()
    assert "member.role" in text and "bob@acme.test" in text
    other = charlie_client.get(reverse("audit_log", kwargs={"org_slug": "globex"}))
    assert "bob@acme.test" not in other.content.decode()
