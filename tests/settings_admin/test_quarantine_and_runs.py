"""Admins browse rejected messages and health runs; members get 403; other tenants' rows
never show."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone

from health.models import HealthRun
from ingestion.services import SOURCE_API, RawItem, messages_ingest
from vitals.tenancy.scope import tenant_scope


def reject(product, message, index=0):
    with tenant_scope(product.organization, product):
        messages_ingest(
            product=product,
            items=[RawItem(index=index, message=message)],
            received_at=timezone.now(),
            source=SOURCE_API,
        )


@pytest.fixture
def rejected(product, other_product):
    reject(product, {"type": "teleport", "userId": "u1", "messageId": "a"})
    reject(product, {"type": "track", "userId": "u1", "messageId": "b"})
    reject(other_product, {"type": "track", "userId": "globex-secret", "messageId": "c"})


def test_it_lists_rejected_messages_with_their_reasons(alice_client, rejected):
    response = alice_client.get(reverse("quarantine", kwargs={"org_slug": "acme"}))
    assert response.status_code == 200
    text = response.content.decode()
    assert "unknown type &#x27;teleport&#x27;" in text
    assert "track needs a non-empty event name" in text
    assert "globex-secret" not in text


def test_it_filters_rejected_messages_by_reason(alice_client, rejected):
    url = reverse("quarantine", kwargs={"org_slug": "acme"})
    response = alice_client.get(url, {"reason": "track needs a non-empty event name"})
    rows = response.context["page"].object_list
    assert [row.reason for row in rows] == ["track needs a non-empty event name"]


def test_it_forbids_members_the_admin_pages(bob_client, rejected):
    for name in ("quarantine", "health_runs"):
        assert bob_client.get(reverse(name, kwargs={"org_slug": "acme"})).status_code == 403


def test_it_lists_health_runs_of_my_organization_only(alice_client, product, other_product):
    HealthRun.dangerously_unscoped.create(
        organization_id=product.organization_id,
        product=product,
        as_of=date(2026, 10, 31),
        status=HealthRun.Status.FAILED,
        error="boom: the reason",
    )
    HealthRun.dangerously_unscoped.create(
        organization_id=other_product.organization_id,
        product=other_product,
        as_of=date(2026, 10, 30),
        status=HealthRun.Status.DONE,
        rows=7,
    )
    response = alice_client.get(reverse("health_runs", kwargs={"org_slug": "acme"}))
    text = response.content.decode()
    assert "boom: the reason" in text and "2026-10-31" in text
    assert "2026-10-30" not in text and "Globex" not in text


def test_it_runs_a_constant_number_of_queries_for_the_quarantine(
    alice_client, product, django_assert_max_num_queries
):
    for index in range(30):
        reject(product, {"type": "nope", "userId": "u", "messageId": f"m{index}"}, index)
    url = reverse("quarantine", kwargs={"org_slug": "acme"})
    with django_assert_max_num_queries(12):
        assert alice_client.get(url).status_code == 200
