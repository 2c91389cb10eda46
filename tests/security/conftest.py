"""A small, real Acme world for the security tests: a product with ingested events and
computed health, a feature, a module, a write key, a shared bookmark and API tokens for
alice (admin), bob (member) and charlie (Globex, the outsider)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.http import QueryDict
from django.test import Client

from accounts_explorer.bookmarks import bookmark_save_view
from api.services import api_token_create
from health.models import Feature, Module
from tests.health.helpers import compute, ingest_file
from vitals.tenancy.models import Membership, Organization, Product
from vitals.tenancy.scope import tenant_scope
from vitals.tenancy.services import product_create, write_key_create

AS_OF = "2026-10-31"
# An id with a slash: account and user ids are the customer's own strings (<path:...>).
ACCOUNT_ID = "acme-co/eu"
USER_ID = "u-1"
PRODUCT_KEY = "crm"  # only Acme has it, so a Globex token asking for it must get 404

EVENTS = [
    {
        "type": "group",
        "userId": USER_ID,
        "groupId": ACCOUNT_ID,
        "traits": {"name": "Acme Customer EU", "plan": "Pro"},
        "timestamp": "2026-10-01T00:00:00Z",
        "messageId": "walk-1",
    },
    {
        "type": "identify",
        "userId": USER_ID,
        "traits": {"email": "u1@customer.test"},
        "timestamp": "2026-10-01T00:00:01Z",
        "messageId": "walk-2",
    },
    {
        "type": "track",
        "userId": USER_ID,
        "event": "Report Opened",
        "timestamp": "2026-10-30T10:00:00Z",
        "messageId": "walk-3",
    },
]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Hashing passwords at full strength costs a second per user; not what is tested."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class World:
    organization: Organization
    product: Product
    feature: Feature
    module: Module
    write_key_id: int
    bookmark_id: int
    bob_membership_id: int
    tokens: dict[str, str]  # role -> raw API token

    def url_values(self) -> dict[str, object]:
        """A real value for every path parameter of the URL conf."""
        return {
            "org_slug": self.organization.slug,
            "product_key": self.product.key,
            "account_id": ACCOUNT_ID,
            "user_id": USER_ID,
            "bookmark_id": self.bookmark_id,
            "action": "rename",
            "membership_id": self.bob_membership_id,
            "write_key_id": self.write_key_id,
            "feature_id": self.feature.pk,
            "module_id": self.module.pk,
        }


@pytest.fixture
def world(tmp_path: Path, org, alice, bob, charlie, other_org) -> World:
    product = product_create(organization=org, key=PRODUCT_KEY, name="Acme CRM")
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(event) + "\n" for event in EVENTS))
    ingest_file(events, org.slug, product.key)
    compute(org.slug, product.key, AS_OF)
    write_key, _ = write_key_create(product=product, label="walk")
    with tenant_scope(org, product):
        Module.objects.create(organization=org, product=product, path="Reports")
        # Empty, so deleting it is allowed (a module with features is refused).
        module = Module.objects.create(organization=org, product=product, path="Archive")
        feature = Feature.objects.create(
            organization=org,
            product=product,
            key="report-opened",
            name="Report opened",
            module_path="Reports",
            rules=[{"event": "Report Opened"}],
        )
        bookmark = bookmark_save_view(
            organization=org,
            product=product,
            owner=alice,
            name="Alice's shared view",
            shared=True,
            freeze=False,
            view=QueryDict("q=acme"),
        )
        bob_membership = Membership.objects.get(user=bob)
    tokens = {
        "admin": api_token_create(organization=org, user=alice)[1],
        "member": api_token_create(organization=org, user=bob)[1],
        "outsider": api_token_create(organization=other_org, user=charlie)[1],
    }
    return World(
        organization=org,
        product=product,
        feature=feature,
        module=module,
        write_key_id=write_key.pk,
        bookmark_id=bookmark.pk,
        bob_membership_id=bob_membership.pk,
        tokens=tokens,
    )


def role_client(role: str, *, users: dict[str, object], tokens: dict[str, str], **kwargs) -> Client:
    """A browser session for the role's person, also carrying their API token (pages ignore
    it, the API reads only it). The anonymous client has neither."""
    client = Client(raise_request_exception=False, **kwargs)
    if role == "anonymous":
        return client
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {tokens[role]}"
    client.force_login(users[role])
    return client
