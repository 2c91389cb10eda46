from __future__ import annotations

import pytest

from vitals.tenancy.models import Product, WriteKey
from vitals.tenancy.scope import TenantScopeError, tenant_scope
from vitals.tenancy.services import write_key_create


def test_it_refuses_tenant_queries_without_an_organization_in_scope(product):
    with pytest.raises(TenantScopeError):
        list(Product.objects.all())


def test_it_returns_only_the_scoped_organizations_rows(org, product, other_org, other_product):
    with tenant_scope(org):
        assert list(Product.objects.values_list("name", flat=True)) == ["Acme App"]
    with tenant_scope(other_org):
        assert list(Product.objects.values_list("name", flat=True)) == ["Globex App"]


def test_it_cannot_fetch_another_organizations_row_by_primary_key(org, other_product):
    with tenant_scope(org), pytest.raises(Product.DoesNotExist):
        Product.objects.get(pk=other_product.pk)


def test_it_refuses_a_product_of_another_organization_in_scope(org, other_product):
    with pytest.raises(TenantScopeError), tenant_scope(org, other_product):
        pass


def test_it_stores_write_keys_hashed_and_never_in_clear(org, product):
    write_key, raw_key = write_key_create(product=product)
    with tenant_scope(org):
        stored = WriteKey.objects.get(pk=write_key.pk)
    assert raw_key.startswith("vk_") and len(raw_key) > 40
    assert raw_key not in (stored.key_hash, stored.prefix, stored.label)
    assert stored.prefix == raw_key[:10]
    # Nothing in the table holds the secret, whatever the column.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(k)::text FROM tenancy_writekey k")
        dumped = " ".join(row[0] for row in cursor.fetchall())
    assert raw_key not in dumped
