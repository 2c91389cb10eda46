"""Explorer test data: a conformance fixture imported and computed, alice an admin of its
organization, bob a member; and bulk AccountHealth rows for size-independence tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from health.models import AccountHealth, PortfolioHealth
from ingestion.models import Account
from tests.health.helpers import command, compute, fixture, fixture_config, ingest_file
from vitals.tenancy.models import Organization, Product
from vitals.tenancy.scope import tenant_scope
from vitals.tenancy.services import membership_set


@dataclass
class Computed:
    organization: Organization
    product: Product
    as_of: date

    def url(self, query: str = "") -> str:
        return reverse("explorer", args=[self.organization.slug, self.product.key]) + query


def import_fixture(name: str) -> Computed:
    config = fixture_config(name)
    org, key, as_of = config["organization"]["slug"], config["product"]["key"], config["as_of"]
    command("import_config", str(fixture(name) / "config.json"))
    ingest_file(fixture(name) / "events.jsonl", org, key)
    compute(org, key, as_of)
    organization = Organization.objects.get(slug=org)
    product = Product.dangerously_unscoped.get(organization=organization, key=key)
    return Computed(organization, product, date.fromisoformat(as_of))


@pytest.fixture
def basic(db) -> Computed:
    return import_fixture("basic")


@pytest.fixture
def basic_alice(basic, alice, alice_client) -> Client:
    membership_set(organization=basic.organization, user=alice, role="admin")
    return alice_client


@pytest.fixture
def basic_bob(basic, bob, bob_client) -> Client:
    membership_set(organization=basic.organization, user=bob, role="member")
    return bob_client


def seed_accounts(
    *, organization: Organization, product: Product, as_of: date, count: int, start: int = 0
) -> None:
    """`count` accounts with made-up KPIs, in bulk: a table the size of a real one."""
    bands = ["Healthy", "Neutral", "At Risk", "Inactive"]
    seen = datetime.combine(as_of, datetime.min.time(), tzinfo=UTC)
    with tenant_scope(organization, product):
        accounts = Account.objects.bulk_create(
            Account(
                organization=organization,
                external_id=f"bulk-{i:05d}",
                name=f"Bulk {i:05d}",
                traits={"plan": ["Free", "Pro", "Enterprise"][i % 3], "seats": i % 40},
                first_seen_at=seen - timedelta(days=400),
            )
            for i in range(start, start + count)
        )
        AccountHealth.objects.bulk_create(
            AccountHealth(
                organization=organization,
                product=product,
                as_of=as_of,
                account=account,
                active_users=i % 17,
                active_users_prev=i % 13,
                avg_dau=1.0,
                avg_dau_prev=1.0,
                avg_wau=2.0,
                avg_wau_prev=2.0,
                stickiness=(i * 7) % 100,
                stickiness_prev=(i * 5) % 100,
                core_feature_usage=(i * 11) % 100,
                core_feature_usage_prev=None,
                active_user_coverage=(i * 13) % 100,
                active_user_coverage_prev=50.0,
                product_score=(i * 3) % 100,
                product_score_prev=(i * 2) % 100,
                health=bands[i % 4],
                health_prev=bands[(i + 1) % 4],
                cfu_band="Low",
                coverage_band="High",
                stickiness_band="Moderate",
                users_at_risk=i % 5,
                users_at_risk_prev=i % 3,
                visits=i % 50,
                visits_prev=i % 40,
                avg_session_seconds=120.0,
                avg_session_seconds_prev=100.0,
                users_lifetime=i % 20,
                visits_lifetime=i % 200,
                product_first_seen=seen - timedelta(days=300),
                product_last_seen=seen - timedelta(days=(i % 60)),
                last_seen=seen,
                created_date=as_of - timedelta(days=i % 90),
            )
            for i, account in enumerate(accounts, start=start)
        )


def seed_portfolio(*, organization: Organization, product: Product, as_of: date) -> None:
    with tenant_scope(organization, product):
        PortfolioHealth.objects.create(
            organization=organization,
            product=product,
            as_of=as_of,
            summary={
                "total_accounts": 0,
                "total_users": 0,
                "active_accounts": 0,
                "active_accounts_prev": 0,
                "health": {},
            },
        )
