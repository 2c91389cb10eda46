"""Toggles swap the lists partial over htmx; plain requests and history restores get the
whole page; responses vary on the htmx headers."""

from __future__ import annotations

import pytest

from tests.account_pages.conftest import attribute_values

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "account-lists"}


def test_it_returns_only_the_lists_to_an_htmx_toggle(basic, basic_client):
    url = basic.account_url("acc_0001")
    response = basic_client.get(url, {"rank": "visits", "users": "bottom"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="account-lists"')
    expected = basic.drilldown["acc_0001"]["top_users_by_visits"][::-1]
    assert attribute_values(html, "data-user-id") == expected
    assert 'data-testid="trend"' not in html  # the rest of the page is not re-sent
    assert "HX-Request" in response["Vary"]


def test_it_keeps_the_other_lists_state_in_every_toggle(basic, basic_client):
    url = basic.account_url("acc_0001")
    html = basic_client.get(url, {"usage": "modules", "uq": "u_0"}, **HTMX).content.decode()
    # the users' Bottom toggle keeps the modules list and the filter
    assert 'href="?users=bottom&amp;usage=modules&amp;uq=u_0"' in html
    assert '<input type="hidden" name="usage" value="modules">' in html


def test_it_renders_the_whole_page_without_htmx_or_on_a_history_restore(basic, basic_client):
    url = basic.account_url("acc_0001")
    plain = basic_client.get(url, {"users": "bottom"})
    assert "<html" in plain.content.decode()
    assert "HX-Request" in plain["Vary"]
    restore = basic_client.get(url, HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX)
    assert "<html" in restore.content.decode()
    other_target = basic_client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="main")
    assert "<html" in other_target.content.decode()


def test_it_ignores_unknown_toggle_values(basic, basic_client):
    url = basic.account_url("acc_0001")
    html = basic_client.get(url, {"rank": "drop table", "users": "sideways"}).content.decode()
    expected = basic.drilldown["acc_0001"]["top_users_by_core"]
    assert attribute_values(html, "data-user-id", within="users") == expected
