"""The settings list pages run a constant number of queries, however big the catalog."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from health.models import Feature
from settings_admin.services import audit_record
from settings_admin.services_catalog import feature_create
from vitals.tenancy.scope import tenant_scope


def grow(product, alice, start: int, count: int) -> None:
    with tenant_scope(product.organization, product):
        for index in range(start, start + count):
            feature_create(
                product=product,
                user=alice,
                key=f"f{index}",
                name=f"F {index}",
                module_path=f"M{index % 4}/S{index % 3}",
                labels=[f"l{index % 5}"],
                rules=[{"event": f"E{index}"}],
            )
            audit_record(organization=product.organization, user=alice, action="x", target="y")


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("catalog", {"org_slug": "acme", "product_key": "app"}),
        ("account_settings", {"org_slug": "acme", "product_key": "app"}),
        ("settings_home", {"org_slug": "acme"}),
        ("audit_log", {"org_slug": "acme"}),
    ],
)
def test_it_runs_a_constant_number_of_queries(
    alice_client, alice, product, name, kwargs, django_assert_num_queries
):
    url = reverse(name, kwargs=kwargs)
    grow(product, alice, 0, 3)
    alice_client.get(url)  # creates the product's settings row on first sight
    with CaptureQueriesContext(connection) as small:
        assert alice_client.get(url).status_code == 200
    grow(product, alice, 3, 30)
    assert Feature.dangerously_unscoped.count() == 33
    with django_assert_num_queries(len(small.captured_queries)):
        assert alice_client.get(url).status_code == 200
