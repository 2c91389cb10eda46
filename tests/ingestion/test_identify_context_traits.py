"""RudderStack's SDKs send an identify's traits in `context.traits` only: they are the
user's traits (and an `accountId` among them a membership), unless the identify carries
traits of its own, which then win as Segment's spec has them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingestion.models import AccountMembership, EndUser
from ingestion.services import SOURCE_API, RawItem, messages_ingest
from vitals.tenancy.scope import tenant_scope

pytestmark = pytest.mark.django_db

RECEIVED = datetime(2026, 1, 5, 12, tzinfo=UTC)


def _identify(message_id: str, user_id: str, **fields) -> dict:
    return {
        "type": "identify",
        "userId": user_id,
        "messageId": message_id,
        "timestamp": "2026-01-05T10:00:00Z",
        **fields,
    }


def _ingest(product, messages: list[dict]):
    with tenant_scope(product.organization, product):
        return messages_ingest(
            product=product,
            items=[RawItem(index=i, message=m) for i, m in enumerate(messages)],
            received_at=RECEIVED,
            source=SOURCE_API,
        )


def test_an_identify_without_traits_takes_its_context_traits(product):
    result = _ingest(
        product,
        [
            _identify(
                "rs-1",
                "rudder-user",
                context={"traits": {"email": "r@customer.test", "accountId": "acct-r"}},
            )
        ],
    )
    assert result.accepted == 1
    with tenant_scope(product.organization, product):
        user = EndUser.objects.get(external_id="rudder-user")
        assert user.traits == {"email": "r@customer.test", "accountId": "acct-r"}
        membership = AccountMembership.objects.get(user=user)
        assert membership.account.external_id == "acct-r"


def test_an_identify_s_own_traits_win_over_its_context_traits(product):
    _ingest(
        product,
        [
            _identify(
                "seg-1",
                "segment-user",
                traits={"email": "own@customer.test"},
                context={"traits": {"email": "ctx@customer.test", "accountId": "acct-c"}},
            )
        ],
    )
    with tenant_scope(product.organization, product):
        user = EndUser.objects.get(external_id="segment-user")
        assert user.traits == {"email": "own@customer.test"}
        assert not AccountMembership.objects.filter(user=user).exists()


def test_a_track_s_context_traits_are_not_the_user_s(product):
    _ingest(
        product,
        [
            {
                "type": "track",
                "event": "Report Exported",
                "userId": "tracked-user",
                "messageId": "t-1",
                "timestamp": "2026-01-05T10:00:00Z",
                "context": {"traits": {"email": "t@customer.test", "accountId": "acct-t"}},
            }
        ],
    )
    with tenant_scope(product.organization, product):
        user = EndUser.objects.get(external_id="tracked-user")
        assert user.traits == {}
        assert not AccountMembership.objects.filter(user=user).exists()
