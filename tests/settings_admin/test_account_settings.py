"""Saving the account settings: validated on the server, audited, and recomputed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from health.models import Feature, HealthRun, HealthSettings
from settings_admin.models import AuditEntry
from vitals.tenancy.scope import tenant_scope

VALID = {
    "stickiness_mode": "dau",
    "cfu_lower": "30",
    "cfu_upper": "60",
    "coverage_lower": "40",
    "coverage_upper": "70",
    "stickiness_lower": "15",
    "stickiness_upper": "30",
    "score_lower": "25",
    "score_upper": "45",
}


@pytest.fixture
def save_url(product):
    return reverse("account_settings_save", kwargs={"org_slug": "acme", "product_key": "app"})


@pytest.fixture
def features(product):
    with tenant_scope(product.organization, product):
        for index in range(101):
            Feature.objects.create(
                organization=product.organization,
                product=product,
                key=f"f{index:03d}",
                name=f"Feature {index}",
                module_path="Reports/Exports" if index < 3 else "",
                labels=["core"] if index < 2 else [],
                rules=[{"event": f"E{index}"}],
            )


def settings_of(product) -> HealthSettings | None:
    return HealthSettings.dangerously_unscoped.filter(product=product).first()


def test_it_shows_the_settings_page_with_the_explanation_and_the_pickers(
    alice_client, product, features
):
    url = reverse("account_settings", kwargs={"org_slug": "acme", "product_key": "app"})
    response = alice_client.get(url)
    text = response.content.decode()
    assert response.status_code == 200
    assert "A <strong>core item</strong> is" in text
    assert 'data-core-add="feature:f000"' in text
    assert (
        'data-core-add="module:Reports"' in text
        and 'data-core-add="module:Reports/Exports"' in text
    )
    assert 'data-core-add="label:core"' in text
    assert "No health computation yet" in text


def test_it_saves_settings_audits_them_and_enqueues_a_recompute(
    alice_client, alice, product, features, save_url, django_capture_on_commit_callbacks
):
    data = {
        **VALID,
        "core_items": ["feature:f001", "module:Reports", "label:core"],
        "score_lower": "50",
        "score_upper": "80",
        "stickiness_mode": "wau",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(save_url, data)
    assert response.status_code == 302
    saved = settings_of(product)
    assert saved.core_items == [{"feature": "f001"}, {"module": "Reports"}, {"label": "core"}]
    assert (saved.score_lower, saved.score_upper, saved.stickiness_mode) == (50, 80, "wau")
    assert saved.updated_by == alice
    entry = AuditEntry.dangerously_unscoped.get()
    assert (entry.user, entry.action, entry.product) == (alice, "settings.update", product)
    assert entry.before["product_score"] == [25.0, 45.0]
    assert entry.after["product_score"] == [50.0, 80.0]
    assert entry.before["core_items"] == [] and len(entry.after["core_items"]) == 3
    run = HealthRun.dangerously_unscoped.get(product=product)
    assert run.status == HealthRun.Status.DONE  # eager in tests: computed on commit

    page = alice_client.get(response["Location"]).content.decode()
    assert "Settings saved" in page
    assert "settings.update" in page and "[50.0, 80.0]" in page  # the audit entry, listed
    assert 'data-status="done"' in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cfu_upper", "20", "The upper limit (20) must be above the lower one (30)."),
        ("coverage_lower", "70", "The upper limit (70) must be above the lower one (70)."),
        ("stickiness_upper", "101", "Ensure this value is less than or equal to 100."),
        ("score_lower", "-1", "Ensure this value is greater than or equal to 0."),
        ("score_upper", "", "Give a number from 0 to 100."),
        ("score_upper", "lots", "Enter a number."),
    ],
)
def test_it_refuses_invalid_thresholds_keeping_what_was_typed(
    alice_client, product, save_url, field, value, message
):
    response = alice_client.post(save_url, {**VALID, field: value})
    assert response.status_code == 422
    text = response.content.decode()
    assert message in text
    assert "Nothing was saved" in text
    assert f'name="{field}" value="{value}"' in text
    assert settings_of(product) is None or settings_of(product).cfu_upper == 60
    assert AuditEntry.dangerously_unscoped.count() == 0
    assert HealthRun.dangerously_unscoped.count() == 0


def test_it_refuses_more_than_100_core_items(alice_client, product, features, save_url):
    tokens = [f"feature:f{index:03d}" for index in range(101)]
    response = alice_client.post(save_url, {**VALID, "core_items": tokens})
    assert response.status_code == 422
    text = response.content.decode()
    assert "At most 100 core items: you picked 101." in text
    assert text.count('name="core_items" value="feature:') == 101  # kept for fixing
    assert settings_of(product) is None or settings_of(product).core_items == []
    assert AuditEntry.dangerously_unscoped.count() == 0


def test_it_accepts_exactly_100_core_items(alice_client, product, features, save_url):
    tokens = [f"feature:f{index:03d}" for index in range(100)]
    assert alice_client.post(save_url, {**VALID, "core_items": tokens}).status_code == 302
    assert len(settings_of(product).core_items) == 100


def test_it_refuses_a_malformed_core_item(alice_client, product, save_url):
    response = alice_client.post(save_url, {**VALID, "core_items": ["planet:mars"]})
    assert response.status_code == 422
    assert "must name one feature, module or label" in response.content.decode()


def test_it_records_nothing_when_nothing_changed(alice_client, product, save_url):
    response = alice_client.post(save_url, VALID, follow=True)
    assert "Nothing changed." in response.content.decode()
    assert AuditEntry.dangerously_unscoped.count() == 0
    assert HealthRun.dangerously_unscoped.count() == 0


def test_it_polls_the_run_status_while_queued(alice_client, product):
    HealthRun.dangerously_unscoped.create(
        organization=product.organization, product=product, as_of="2026-11-01"
    )
    url = reverse("run_status", kwargs={"org_slug": "acme", "product_key": "app"})
    text = alice_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' in text and "Recompute queued" in text
    run = HealthRun.dangerously_unscoped.get()
    run.status, run.error = HealthRun.Status.FAILED, "OperationalError: disk full"
    run.save()
    text = alice_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "every 2s" not in text and "failed: OperationalError: disk full" in text
