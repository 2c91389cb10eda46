"""Feature catalog administration: add, edit, move, delete; audited, stamped, recomputed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from health.models import Feature, HealthRun, HealthSettings, Module
from settings_admin.models import AuditEntry
from vitals.tenancy.scope import tenant_scope

PROD = {"org_slug": "acme", "product_key": "app"}


def url(name, **kwargs):
    return reverse(name, kwargs={**PROD, **kwargs})


def feature(key="export"):
    return Feature.dangerously_unscoped.get(key=key)


def actions():
    return list(AuditEntry.dangerously_unscoped.order_by("id").values_list("action", flat=True))


@pytest.fixture
def export(alice_client, product):
    response = alice_client.post(
        url("feature_create"),
        {
            "key": "export",
            "name": "Export report",
            "module_path": " Reports / Exports ",
            "labels": "core, beta, core",
            "rule_kind": ["event", "page", "event"],
            "rule_value": ["Report Exported", "/reports/*/export", ""],
        },
    )
    assert response.status_code == 302
    return feature()


def test_it_adds_a_feature_with_its_modules_and_who_added_it(alice, product, export):
    assert export.module_path == "Reports/Exports"
    assert export.labels == ["core", "beta"]
    assert export.rules == [{"event": "Report Exported"}, {"page": "/reports/*/export"}]
    assert export.updated_by == alice
    paths = set(Module.dangerously_unscoped.filter(product=product).values_list("path", flat=True))
    assert paths == {"Reports", "Reports/Exports"}
    entry = AuditEntry.dangerously_unscoped.get()
    assert (entry.action, entry.target, entry.before) == ("feature.create", "feature export", None)
    assert entry.after["rules"] == export.rules
    assert HealthRun.dangerously_unscoped.filter(product=product).count() == 1


def test_it_lists_the_catalog_as_a_tree_with_the_last_change(alice_client, export):
    text = alice_client.get(url("catalog")).content.decode()
    assert text.index('data-module="Reports"') < text.index('data-module="Reports/Exports"')
    assert "Export report" in text and "alice@acme.test" in text


def test_it_refuses_a_feature_without_rules_or_with_a_taken_key(alice_client, export):
    response = alice_client.post(
        url("feature_create"),
        {"key": "other", "name": "Other", "rule_kind": "event", "rule_value": ""},
    )
    assert response.status_code == 422
    assert "give at least one match rule" in response.content.decode()
    response = alice_client.post(
        url("feature_create"),
        {"key": "export", "name": "Again", "rule_kind": "event", "rule_value": "X"},
    )
    assert response.status_code == 422
    assert "exists already" in response.content.decode()
    assert Feature.dangerously_unscoped.count() == 1
    assert actions() == ["feature.create"]


def test_it_edits_a_feature_keeping_its_key(alice_client, export):
    response = alice_client.post(
        url("feature_update", feature_id=export.pk),
        {
            "key": "hacked",
            "name": "Export",
            "module_path": "Reports",
            "labels": "",
            "rule_kind": "event",
            "rule_value": "Report Exported",
        },
    )
    assert response.status_code == 302
    edited = Feature.dangerously_unscoped.get(pk=export.pk)
    assert (edited.key, edited.name, edited.module_path) == ("export", "Export", "Reports")
    assert edited.rules == [{"event": "Report Exported"}] and edited.labels == []
    entry = AuditEntry.dangerously_unscoped.order_by("id").last()
    assert entry.action == "feature.update"
    assert entry.before["labels"] == ["core", "beta"] and entry.after["labels"] == []


def test_it_moves_a_feature_to_another_module(alice_client, alice, export):
    response = alice_client.post(
        url("feature_move", feature_id=export.pk), {"module_path": "Sharing/Exports"}
    )
    assert response.status_code == 302
    assert feature().module_path == "Sharing/Exports"
    assert Module.dangerously_unscoped.filter(path="Sharing").exists()
    entry = AuditEntry.dangerously_unscoped.order_by("id").last()
    assert (entry.action, entry.before, entry.after) == (
        "feature.move",
        {"module": "Reports/Exports"},
        {"module": "Sharing/Exports"},
    )


def test_it_deletes_a_feature_and_its_core_item(alice_client, product, export):
    with tenant_scope(product.organization, product):
        HealthSettings.objects.create(
            organization=product.organization,
            product=product,
            core_items=[{"feature": "export"}, {"label": "core"}],
        )
    assert alice_client.post(url("feature_delete", feature_id=export.pk)).status_code == 302
    assert not Feature.dangerously_unscoped.exists()
    assert HealthSettings.dangerously_unscoped.get().core_items == [{"label": "core"}]
    assert actions() == ["feature.create", "settings.update", "feature.delete"]


def test_it_adds_and_deletes_modules_only_when_empty(alice_client, product, export):
    alice_client.post(url("module_create"), {"path": "Admin/Billing"})
    assert Module.dangerously_unscoped.filter(path="Admin/Billing").exists()
    reports = Module.dangerously_unscoped.get(path="Reports")
    response = alice_client.post(url("module_delete", module_id=reports.pk), follow=True)
    assert "still has features" in response.content.decode()
    assert Module.dangerously_unscoped.filter(path="Reports").exists()
    admin = Module.dangerously_unscoped.get(path="Admin")
    alice_client.post(url("module_delete", module_id=admin.pk))
    assert not Module.dangerously_unscoped.filter(path__startswith="Admin").exists()
    assert actions() == ["feature.create", "module.create", "module.delete"]


def test_it_enqueues_a_recompute_for_each_catalog_change(alice_client, product, export):
    alice_client.post(url("feature_move", feature_id=export.pk), {"module_path": "Other"})
    # Coalesced while queued: one run covers both changes until a worker starts it.
    runs = HealthRun.dangerously_unscoped.filter(product=product)
    assert runs.count() == 1 and runs.get().status == HealthRun.Status.QUEUED
