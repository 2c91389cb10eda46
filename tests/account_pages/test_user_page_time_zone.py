"""The user page's "first seen" is a calendar day in the organization's time zone, as
every other day the app shows: a first event at 03:00 UTC on October 1st is September
30th in Los Angeles."""

from __future__ import annotations

import json
import re

import pytest

from tests.health.helpers import command, compute, fixture_config, ingest_file
from vitals.tenancy.models import Organization
from vitals.tenancy.services import membership_set

pytestmark = pytest.mark.django_db

EVENTS = [
    {"type": "group", "userId": "u1", "groupId": "acc_1", "traits": {"name": "Acme West"},
     "timestamp": "2026-10-01T02:59:00Z"},
    {"type": "track", "userId": "u1", "event": "A", "timestamp": "2026-10-01T03:00:00Z"},
    {"type": "track", "userId": "u1", "event": "B", "timestamp": "2026-10-05T18:00:00Z"},
]  # fmt: skip


@pytest.fixture
def west(tmp_path, alice):
    config = fixture_config("micro")
    config["organization"] = {"name": "West", "slug": "west", "timezone": "America/Los_Angeles"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    events = tmp_path / "events.jsonl"
    events.write_text(
        "".join(json.dumps({**e, "messageId": f"m-{i}"}) + "\n" for i, e in enumerate(EVENTS))
    )
    command("import_config", str(tmp_path / "config.json"))
    ingest_file(events, "west", config["product"]["key"])
    compute("west", config["product"]["key"], "2026-10-10")
    membership_set(organization=Organization.objects.get(slug="west"), user=alice, role="member")
    return config["product"]["key"]


def test_it_shows_first_seen_on_the_organizations_calendar(west, alice_client):
    response = alice_client.get(f"/o/west/p/{west}/users/u1/")
    assert response.status_code == 200
    row = re.search(r'data-account-id="acc_1">(.*?)</tr>', response.content.decode(), re.S)
    assert row
    cells = re.findall(r"<td>([^<]*)</td>", row.group(1))
    first_seen, last_seen = cells
    assert first_seen == "2026-09-30"  # 2026-10-01 03:00 UTC is 20:00 on Sep 30 in LA
    assert last_seen == "2026-10-05 18:00 UTC"
