"""The drill-down and the user page run the same number of queries whatever the number
of users, features, events and memberships (two sizes of the same shape)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client

from tests.health.helpers import command, compute, ingest_file
from vitals.tenancy.models import Organization
from vitals.tenancy.services import membership_set

pytestmark = pytest.mark.django_db
AS_OF = "2026-06-14"


def _organization(tmp_path: Path, slug: str, *, users: int, features: int) -> None:
    """One account `acc`, `users` users each active on a few days, `features` features
    (half never used), one user moving in from another account."""
    config = {
        "organization": {"name": slug, "slug": slug, "timezone": "UTC"},
        "product": {"name": "App", "key": "app"},
        "features": [
            {
                "key": f"f{n:03d}",
                "name": f"Feature {n}",
                "module": f"M{n % 3}/Sub{n % 2}",
                "rules": [{"event": f"Event {n}"}],
            }
            for n in range(features)
        ],
        "settings": {"core_items": [{"feature": "f000"}, {"module": "M1"}]},
    }
    (tmp_path / f"{slug}.json").write_text(json.dumps(config))
    command("import_config", str(tmp_path / f"{slug}.json"))
    messages = [
        {
            "type": "group",
            "userId": f"u{u:03d}",
            "groupId": "acc",
            "messageId": f"g{u}",
            "traits": {"name": "Account"},
            "timestamp": "2026-05-01T08:00:00Z",
        }
        for u in range(users)
    ]
    messages.append(
        {
            "type": "group",
            "userId": "u000",
            "groupId": "old",
            "messageId": "g-old",
            "timestamp": "2026-04-01T08:00:00Z",
        }
    )
    messages += [
        {
            "type": "track",
            "userId": f"u{u:03d}",
            "event": f"Event {(u + day) % (features // 2)}",
            "messageId": f"t{u}-{day}",
            "timestamp": f"2026-06-{day:02d}T10:{u % 60:02d}:00Z",
        }
        for u in range(users)
        for day in range(1, 14, 3)
    ]
    path = tmp_path / f"{slug}.jsonl"
    path.write_text("\n".join(json.dumps(message) for message in messages))
    ingest_file(path, slug, "app")
    compute(slug, "app", AS_OF)


@pytest.fixture
def sized_client(tmp_path, alice) -> Client:
    _organization(tmp_path, "small", users=3, features=4)
    _organization(tmp_path, "large", users=60, features=40)
    for slug in ("small", "large"):
        membership_set(organization=Organization.objects.get(slug=slug), user=alice, role="member")
    client = Client()
    client.force_login(alice)
    return client


@pytest.mark.parametrize(
    "path",
    [
        "accounts/acc/",
        "accounts/acc/?rank=visits&users=bottom&usage=modules&zero=modules&zq=m",
        "users/u000/",
    ],
)
def test_it_runs_as_many_queries_for_a_large_account_as_for_a_small_one(
    sized_client, path, django_assert_num_queries
):
    sized_client.get(f"/o/small/p/app/{path}")  # session and caches warm
    with django_assert_num_queries(_baseline(sized_client, f"/o/small/p/app/{path}")):
        assert sized_client.get(f"/o/large/p/app/{path}").status_code == 200


def _baseline(client: Client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries.captured_queries)


def test_it_pins_the_drilldowns_query_count(sized_client, django_assert_num_queries):
    """Session, user, membership, product, account, health row (with the core-item
    count), thresholds, history, the drill-down lists (the engine's state day, users, then
    features and modules), the shown users' names, the catalog; the full page adds the
    layout's two switchers. A change here should be a decision."""
    sized_client.get("/o/large/p/app/accounts/acc/")
    with django_assert_num_queries(15):
        sized_client.get("/o/large/p/app/accounts/acc/")
    with django_assert_num_queries(13):
        sized_client.get(
            "/o/large/p/app/accounts/acc/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="account-lists"
        )
