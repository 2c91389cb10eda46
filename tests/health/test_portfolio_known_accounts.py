"""The portfolio's Users at Risk counts only accounts known by the end of D (SPEC section
7): a user whose only group call is dated after D has their activity attributed to that
account by rule 3, but the account is not in the portfolio of D, so neither is the user.
Found by the randomized comparison with the reference (tests/health/test_reference_random.py,
scenario `quirks`)."""

from __future__ import annotations

from datetime import date

import orjson
import pytest
from django.utils import timezone

from health.catalog import config_import
from health.models import AccountHealth, PortfolioHealth
from health.services import health_compute
from ingestion.services import RawItem, messages_ingest
from vitals.tenancy.models import Product
from vitals.tenancy.scope import tenant_scope

AS_OF = date(2026, 6, 14)


def messages_for(newcomer_joins: str) -> list[dict]:
    """`old` is a member since June 1st; `newcomer` is active on June 12 and joins
    acc_new at `newcomer_joins`. Neither uses a core item: both are at risk wherever
    they are counted."""
    return [
        {
            "type": "group",
            "userId": "old",
            "groupId": "acc_old",
            "timestamp": "2026-06-01T09:00:00Z",
        },
        {"type": "track", "userId": "old", "event": "Noise", "timestamp": "2026-06-10T09:00:00Z"},
        {
            "type": "track",
            "userId": "newcomer",
            "event": "Noise",
            "timestamp": "2026-06-12T09:00:00Z",
        },
        {"type": "group", "userId": "newcomer", "groupId": "acc_new", "timestamp": newcomer_joins},
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("newcomer_joins", "accounts", "users_at_risk"),
    [
        # the group call is dated after D: acc_new is not known by the end of D
        ("2026-06-15T03:00:00Z", ["acc_old"], 1),
        # dated on D: acc_new is known, and its user at risk counts
        ("2026-06-14T23:00:00Z", ["acc_new", "acc_old"], 2),
    ],
)
def test_it_counts_users_at_risk_only_in_accounts_of_the_portfolio(
    newcomer_joins, accounts, users_at_risk
):
    product = config_import(
        data={
            "organization": {"slug": "known", "name": "Known", "timezone": "UTC"},
            "product": {"key": "app", "name": "App"},
            "features": [{"key": "invite", "rules": [{"event": "Invite Sent"}]}],
            "settings": {"core_items": [{"feature": "invite"}]},
        }
    )
    product = Product.dangerously_unscoped.select_related("organization").get(pk=product.pk)
    messages = [
        {**message, "messageId": f"m-{n}"} for n, message in enumerate(messages_for(newcomer_joins))
    ]
    with tenant_scope(product.organization, product):
        messages_ingest(
            product=product,
            items=[
                RawItem(index=i, message=m, raw=orjson.dumps(m)) for i, m in enumerate(messages)
            ],
            received_at=timezone.now(),
            source="test",
        )
        health_compute(product=product, as_of=AS_OF)
        rows = AccountHealth.objects.filter(product=product, as_of=AS_OF)
        summary = PortfolioHealth.objects.get(product=product, as_of=AS_OF).summary
    assert sorted(rows.values_list("account__external_id", flat=True)) == accounts
    assert summary["total_accounts"] == len(accounts)
    assert summary["users_at_risk"] == users_at_risk
