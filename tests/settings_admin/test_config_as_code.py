"""Export and import of a product's configuration from the settings page."""

from __future__ import annotations

import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from health.models import Feature, HealthRun, HealthSettings
from settings_admin.models import AuditEntry
from tests.health.helpers import fixture
from vitals.tenancy.models import Organization

PROD = {"org_slug": "acme", "product_key": "app"}


def upload(client, content: bytes):
    return client.post(
        reverse("config_upload", kwargs=PROD),
        {"config": SimpleUploadedFile("config.json", content, "application/json")},
        follow=True,
    )


def test_it_imports_a_config_into_this_product_only(alice_client, alice, product, other_org):
    # The file names organization "basic": it still lands in Acme's product, nowhere else.
    content = (fixture("basic") / "config.json").read_bytes()
    response = upload(alice_client, content)
    assert "Configuration imported" in response.content.decode()
    features = Feature.dangerously_unscoped.filter(product=product)
    assert features.count() == 19
    assert all(feature.updated_by == alice for feature in features)
    settings = HealthSettings.dangerously_unscoped.get(product=product)
    assert settings.core_items[0] == {"module": "Reports"}
    assert not Organization.objects.filter(slug="basic").exists()
    assert Organization.objects.get(slug="acme").name == "Acme"
    entry = AuditEntry.dangerously_unscoped.get()
    assert entry.action == "config.import" and entry.before["features"] == []
    assert len(entry.after["features"]) == 19
    assert HealthRun.dangerously_unscoped.filter(product=product).count() == 1


def test_it_exports_what_it_imports(alice_client, product):
    content = (fixture("basic") / "config.json").read_bytes()
    upload(alice_client, content)
    response = alice_client.get(reverse("config_download", kwargs=PROD))
    assert response["Content-Disposition"] == 'attachment; filename="acme-app-config.json"'
    exported = json.loads(response.content)
    original = json.loads(content)
    assert exported["features"] == original["features"]
    assert exported["settings"]["core_items"] == original["settings"]["core_items"]
    assert exported["organization"]["slug"] == "acme"


def test_it_refuses_a_broken_config_and_changes_nothing(alice_client, product):
    bad = json.loads((fixture("basic") / "config.json").read_text())
    bad["settings"]["thresholds"]["stickiness"] = [40, 20]
    for content, message in [
        (b"{not json", "Import refused, nothing changed"),
        (b"[1, 2]", "not a Vitals configuration"),
        (json.dumps(bad).encode(), "stickiness: need 0 &lt;= lower &lt; upper &lt;= 100"),
    ]:
        response = upload(alice_client, content)
        assert message in response.content.decode()
    assert not Feature.dangerously_unscoped.exists()
    assert AuditEntry.dangerously_unscoped.count() == 0
    assert HealthRun.dangerously_unscoped.count() == 0
