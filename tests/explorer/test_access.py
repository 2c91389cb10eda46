"""Who sees the explorer: members of its organization; outsiders 404, strangers log in."""

from __future__ import annotations

import pytest

from tests.explorer.helpers import HTMX_TABLE

PARTIAL_TARGETS = [None, "explorer-table", "explorer-summary", "explorer-health"]


@pytest.mark.parametrize("target", PARTIAL_TARGETS)
def test_it_answers_404_to_an_outsider_for_the_page_and_every_partial(
    charlie_client, basic, target
):
    headers = {"HX-Request": "true", "HX-Target": target} if target else {}

    response = charlie_client.get(basic.url("?health=at-risk"), headers=headers)

    assert response.status_code == 404


@pytest.mark.parametrize("target", PARTIAL_TARGETS)
def test_it_sends_an_anonymous_visitor_to_the_login_page(client, basic, target):
    headers = {"HX-Request": "true", "HX-Target": target} if target else {}

    response = client.get(basic.url("?sort=name"), headers=headers)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_it_answers_404_for_a_product_of_another_organization(basic_alice, other_product):
    response = basic_alice.get("/o/basic/p/no-such-product/")

    assert response.status_code == 404


def test_it_refuses_writes(basic_alice, basic):
    response = basic_alice.post(basic.url())

    assert response.status_code == 405


def test_it_varies_on_htmx_so_caches_keep_page_and_partial_apart(basic_alice, basic):
    page = basic_alice.get(basic.url())
    partial = basic_alice.get(basic.url(), headers=HTMX_TABLE)

    assert "HX-Request" in page["Vary"]
    assert "HX-Request" in partial["Vary"]
    assert b"<html" in page.content
    assert b"<html" not in partial.content
    assert b'id="explorer-table"' in partial.content
