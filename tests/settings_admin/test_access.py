"""Every settings URL and action: members get 403, outsiders 404, and nothing changes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from health.models import Feature, HealthRun, Module
from settings_admin.models import AuditEntry
from vitals.tenancy.models import Membership, WriteKey
from vitals.tenancy.scope import tenant_scope
from vitals.tenancy.services import write_key_create


@pytest.fixture
def objects(product, alice, bob):
    write_key, _ = write_key_create(product=product)
    with tenant_scope(product.organization, product):
        feature = Feature.objects.create(
            organization=product.organization,
            product=product,
            key="f",
            name="F",
            module_path="M",
            rules=[{"event": "E"}],
        )
        module = Module.objects.create(organization=product.organization, product=product, path="M")
        membership = Membership.objects.get(user=alice)
    return {"feature": feature, "module": module, "write_key": write_key, "membership": membership}


def urls(objects) -> tuple[list[str], list[str]]:
    org = {"org_slug": "acme"}
    prod = {**org, "product_key": "app"}
    feature = {**prod, "feature_id": objects["feature"].pk}
    gets = (
        [
            reverse(name, kwargs=org)
            for name in (
                "settings_home",
                "audit_log",
                "account_settings_home",
                "catalog_home",
                "quarantine",
                "health_runs",
            )
        ]
        + [
            reverse(name, kwargs=prod)
            for name in (
                "account_settings",
                "run_status",
                "config_download",
                "catalog",
                "rule_preview",
                "feature_new",
            )
        ]
        + [reverse("feature_edit", kwargs=feature)]
    )
    posts = [
        reverse("member_add", kwargs=org),
        reverse("member_role", kwargs={**org, "membership_id": objects["membership"].pk}),
        reverse("member_remove", kwargs={**org, "membership_id": objects["membership"].pk}),
        reverse("write_key_create", kwargs=org),
        reverse("write_key_revoke", kwargs={**org, "write_key_id": objects["write_key"].pk}),
        reverse("timezone_update", kwargs=org),
        reverse("account_settings_save", kwargs=prod),
        reverse("config_upload", kwargs=prod),
        reverse("feature_create", kwargs=prod),
        reverse("feature_update", kwargs=feature),
        reverse("feature_move", kwargs=feature),
        reverse("feature_delete", kwargs=feature),
        reverse("module_create", kwargs=prod),
        reverse("module_delete", kwargs={**prod, "module_id": objects["module"].pk}),
    ]
    return gets, posts


POST_DATA = {
    "email": "mallory@evil.test",
    "role": "admin",
    "timezone": "Asia/Tokyo",
    "product": "app",
    "key": "x",
    "name": "X",
    "rule_kind": "event",
    "rule_value": "Y",
    "path": "Z",
    "module_path": "Elsewhere",
    "stickiness_mode": "wau",
    "cfu_lower": "1",
    "cfu_upper": "2",
    "coverage_lower": "1",
    "coverage_upper": "2",
    "stickiness_lower": "1",
    "stickiness_upper": "2",
    "score_lower": "1",
    "score_upper": "2",
}


def test_it_forbids_members_every_settings_page_and_action(bob_client, objects):
    gets, posts = urls(objects)
    for url in gets:
        assert bob_client.get(url).status_code == 403, url
    for url in posts:
        assert bob_client.post(url, POST_DATA).status_code == 403, url
    assert AuditEntry.dangerously_unscoped.count() == 0
    assert HealthRun.dangerously_unscoped.count() == 0
    assert WriteKey.dangerously_unscoped.filter(revoked_at__isnull=False).count() == 0
    assert Membership.dangerously_unscoped.filter(role="admin").count() == 1


def test_it_hides_every_settings_page_and_action_from_outsiders(charlie_client, objects):
    gets, posts = urls(objects)
    for url in gets + posts:
        assert charlie_client.get(url).status_code == 404, url
        assert charlie_client.post(url, POST_DATA).status_code == 404, url
    assert AuditEntry.dangerously_unscoped.count() == 0


def test_it_refuses_get_on_actions(alice_client, objects):
    _, posts = urls(objects)
    for url in posts:
        assert alice_client.get(url).status_code == 405, url


def test_it_serves_every_settings_page_to_the_admin(alice_client, objects):
    gets, _ = urls(objects)
    for url in gets:
        response = alice_client.get(url, follow=True)
        assert response.status_code == 200, url


def test_it_requires_the_csrf_token_on_actions(alice, objects):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    _, posts = urls(objects)
    for url in posts:
        assert client.post(url, POST_DATA).status_code == 403, url
    assert AuditEntry.dangerously_unscoped.count() == 0


def test_it_does_not_reach_another_organizations_objects(alice_client, other_product, objects):
    other_key, _ = write_key_create(product=other_product)
    with tenant_scope(other_product.organization, other_product):
        other_feature = Feature.objects.create(
            organization=other_product.organization,
            product=other_product,
            key="g",
            name="G",
            rules=[{"event": "E"}],
        )
    org = {"org_slug": "acme"}
    assert (
        alice_client.post(
            reverse("write_key_revoke", kwargs={**org, "write_key_id": other_key.pk})
        ).status_code
        == 404
    )
    assert (
        alice_client.post(
            reverse(
                "feature_delete",
                kwargs={**org, "product_key": "app", "feature_id": other_feature.pk},
            )
        ).status_code
        == 404
    )
    other_key.refresh_from_db()
    assert other_key.revoked_at is None
    assert Feature.dangerously_unscoped.filter(pk=other_feature.pk).exists()
