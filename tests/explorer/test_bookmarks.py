"""Bookmarks: a saved view comes back whole; private ones stay private; only owners
change them; a default view opens by itself; a frozen one keeps its accounts."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from accounts_explorer.filters import explorer_state_from
from accounts_explorer.models import Bookmark
from accounts_explorer.selectors import valid_column_keys
from ingestion.models import Account
from tests.explorer.conftest import seed_accounts, seed_portfolio
from tests.explorer.helpers import HTMX_TABLE, read_table
from vitals.tenancy.scope import tenant_scope

AS_OF = date(2026, 6, 30)
BASE = "/o/acme/p/app/"
FULL_VIEW = (
    "health=healthy&q=bulk&last_seen=all&sort=-trait.seats"
    "&cols=id,trait.seats,score,plan&plan=Pro&industry=Tech&country=DE&region=EMEA"
    "&employees_min=10&employees_max=500&revenue_min=1000&revenue_max=9000000"
    "&score_min=10&score_max=90.5&cfu_min=1&cfu_max=99&stickiness_min=2&stickiness_max=98"
    "&coverage_min=3&coverage_max=97&active_users_min=1&active_users_max=16"
    "&users_min=0&users_max=19&cfu_band=Low&coverage_band=High&stickiness_band=Moderate"
    "&first_seen_from=2025-01-01&first_seen_to=2026-06-30&last_seen_from=2026-05-01"
    "&last_seen_to=2026-06-30&used_feature=export&unused_feature=import&used_module=reports"
    "&unused_module=admin&trait=seats%3D5&trait=tier%3Dgold"
)


@pytest.fixture
def seeded(alice, bob, org, product):
    seed_portfolio(organization=org, product=product, as_of=AS_OF)
    seed_accounts(organization=org, product=product, as_of=AS_OF, count=60)
    return org, product


def save(client, view: str, name: str = "My view", **fields: str):
    return client.post(f"{BASE}bookmarks/", {"name": name, "view": view, **fields})


def bookmark(name: str) -> Bookmark:
    return Bookmark.dangerously_unscoped.get(name=name)


def state_of(query: str):
    return explorer_state_from(QueryDict(query), valid_columns=valid_column_keys(["seats"]))


def test_it_round_trips_every_piece_of_the_view(alice_client, seeded):
    response = save(alice_client, FULL_VIEW, name="Everything")
    assert response.status_code == 302

    opened = alice_client.get(f"{BASE}bookmarks/{bookmark('Everything').pk}/")

    assert opened.status_code == 302
    url = urlsplit(opened["Location"])
    assert url.path == BASE
    original, restored = state_of(FULL_VIEW), state_of(url.query)
    assert restored == original
    assert len(original.filters) == 33  # every advanced filter, two traits
    assert (original.health, original.q, original.sort) == ("healthy", "bulk", "-trait.seats")
    assert original.cols == ("id", "trait.seats", "score", "plan")


def test_it_shows_the_saved_view_when_opened(alice_client, seeded):
    save(alice_client, "health=healthy&plan=Pro&sort=name&cols=id,plan", name="Pro")

    page = alice_client.get(f"{BASE}bookmarks/{bookmark('Pro').pk}/", follow=True)

    html = page.content.decode()
    table = read_table(html)
    assert table.headers == ["id", "plan"]
    assert {row["plan"] for row in table.rows.values()} == {"Pro"}
    assert table.order == sorted(table.order)
    assert "Remove filter: Plan: Pro" in html


def test_it_keeps_private_bookmarks_invisible_to_other_people(alice_client, bob_client, seeded):
    save(alice_client, "plan=Pro", name="Alice private")
    save(alice_client, "plan=Free", name="Alice shared", shared="1")
    private, shared = bookmark("Alice private"), bookmark("Alice shared")

    listing = bob_client.get(f"{BASE}bookmarks/").content.decode()

    assert "Alice shared" in listing
    assert "Alice private" not in listing
    assert bob_client.get(f"{BASE}bookmarks/{private.pk}/").status_code == 404
    assert bob_client.post(f"{BASE}bookmarks/{private.pk}/delete/").status_code == 404
    assert bob_client.get(f"{BASE}bookmarks/{shared.pk}/").status_code == 302
    assert "Alice private" in alice_client.get(f"{BASE}bookmarks/").content.decode()


def test_it_lets_only_the_owner_change_a_shared_bookmark(alice_client, bob_client, seeded):
    save(alice_client, "plan=Free", name="Shared", shared="1")
    shared = bookmark("Shared")

    for action, data in (("rename", {"name": "Bob's"}), ("delete", {}), ("default", {})):
        response = bob_client.post(f"{BASE}bookmarks/{shared.pk}/{action}/", data)
        assert response.status_code == 403, action
    shared.refresh_from_db()
    assert (shared.name, shared.is_default) == ("Shared", False)


def test_it_renames_shares_and_deletes(alice_client, seeded):
    save(alice_client, "plan=Pro", name="Old")
    saved = bookmark("Old")

    alice_client.post(f"{BASE}bookmarks/{saved.pk}/rename/", {"name": "New", "shared": "1"})
    saved.refresh_from_db()
    assert (saved.name, saved.shared) == ("New", True)

    response = alice_client.post(f"{BASE}bookmarks/{saved.pk}/delete/", headers=HTMX_TABLE)
    assert response.status_code == 200
    assert "Deleted “New”." in response.content.decode()
    assert not Bookmark.dangerously_unscoped.filter(pk=saved.pk).exists()


def test_it_opens_the_default_view_when_the_url_names_none(alice_client, bob_client, seeded):
    save(alice_client, "plan=Pro&sort=name", name="Mine")
    save(alice_client, "plan=Free", name="Other")
    mine, other = bookmark("Mine"), bookmark("Other")
    alice_client.post(f"{BASE}bookmarks/{other.pk}/default/", {"default": "1"})
    alice_client.post(f"{BASE}bookmarks/{mine.pk}/default/", {"default": "1"})

    response = alice_client.get(BASE)

    assert response.status_code == 302
    assert parse_qs(urlsplit(response["Location"]).query) == {"plan": ["Pro"], "sort": ["name"]}
    assert list(Bookmark.dangerously_unscoped.filter(is_default=True)) == [mine]
    # A URL with state, an htmx swap and other people are left alone.
    assert alice_client.get(f"{BASE}?sort=name").status_code == 200
    assert alice_client.get(BASE, headers=HTMX_TABLE).status_code == 200
    assert bob_client.get(BASE).status_code == 200

    alice_client.post(f"{BASE}bookmarks/{mine.pk}/default/", {"default": "0"})
    assert alice_client.get(BASE).status_code == 200


def test_it_freezes_the_accounts_shown_as_a_marked_snapshot(alice_client, seeded, org):
    save(alice_client, "last_seen=all&plan=Pro&health=healthy", name="Frozen", freeze="1")
    frozen = bookmark("Frozen")
    assert len(frozen.snapshot_account_ids) == 5  # Pro (i % 3 == 1) and Healthy (i % 4 == 0)
    with tenant_scope(org):  # one account moves off the Pro plan after the freeze
        Account.objects.filter(external_id="bulk-00004").update(traits={"plan": "Free"})

    page = alice_client.get(f"{BASE}bookmarks/{frozen.pk}/", follow=True)

    html = page.content.decode()
    assert 'data-testid="snapshot-banner"' in html
    assert "only the 5 accounts frozen on" in html
    # The saved filters still apply on top; lift the plan filter to see the frozen five.
    url = page.redirect_chain[-1][0]
    assert f"snapshot={frozen.pk}" in url
    table = read_table(
        alice_client.get(f"{BASE}?last_seen=all&snapshot={frozen.pk}").content.decode()
    )
    assert sorted(table.order) == [f"bulk-{i:05d}" for i in (4, 16, 28, 40, 52)]
    body = b"".join(
        alice_client.get(
            f"{BASE}export.csv?last_seen=all&snapshot={frozen.pk}&cols=id"
        ).streaming_content
    ).decode()
    assert sorted(body.split()[2:]) == [f"bulk-{i:05d}" for i in (4, 16, 28, 40, 52)]


def test_it_ignores_another_persons_private_snapshot(alice_client, bob_client, seeded):
    save(alice_client, "last_seen=all&plan=Pro", name="Secret", freeze="1")
    secret = bookmark("Secret")

    html = bob_client.get(f"{BASE}?last_seen=all&snapshot={secret.pk}").content.decode()

    assert "snapshot-banner" not in html
    assert "1–50 of 60 accounts" in html


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "bookmarks/"),
        ("post", "bookmarks/"),
        ("get", "bookmarks/{pk}/"),
        ("post", "bookmarks/{pk}/rename/"),
        ("post", "bookmarks/{pk}/delete/"),
        ("post", "bookmarks/{pk}/default/"),
    ],
)
def test_it_answers_404_to_an_outsider_on_every_bookmark_url(
    alice_client, charlie_client, seeded, method, path
):
    save(alice_client, "plan=Pro", name="Shared", shared="1")
    url = BASE + path.format(pk=bookmark("Shared").pk)

    response = getattr(charlie_client, method)(url, {"name": "x", "view": ""})

    assert response.status_code == 404


def test_it_lets_a_member_save_and_list_bookmarks(bob_client, seeded):
    response = save(bob_client, "plan=Free", name="Bob's", shared="1")

    assert response.status_code == 302
    panel = bob_client.get(f"{BASE}bookmarks/?plan=Free", headers={"HX-Request": "true"})
    assert panel.status_code == 200
    assert "Bob&#x27;s" in panel.content.decode()
    assert "<html" not in panel.content.decode()


def test_it_answers_404_for_an_unknown_action_or_bookmark(alice_client, seeded):
    save(alice_client, "plan=Pro", name="Mine")

    assert alice_client.post(f"{BASE}bookmarks/{bookmark('Mine').pk}/fly/").status_code == 404
    assert alice_client.get(f"{BASE}bookmarks/999999/").status_code == 404


def test_it_lists_bookmarks_in_a_constant_number_of_queries(alice_client, bob_client, seeded):
    def queries() -> int:
        with CaptureQueriesContext(connection) as context:
            assert alice_client.get(f"{BASE}bookmarks/").status_code == 200
        return len(context.captured_queries)

    save(bob_client, "plan=Pro", name="Bob 0", shared="1")
    few = queries()
    for i in range(10):
        save(bob_client, "plan=Pro", name=f"More {i}", shared="1", freeze="1")

    assert queries() == few
