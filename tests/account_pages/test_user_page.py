"""The user page: recent events with the features they match, the account history
(moves, not repeated group calls), and the user's numbers per account."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def _section(html: str, testid: str) -> str:
    start = html.index(f'data-testid="{testid}"')
    return html[start : html.index("</section>", start)]


def test_it_shows_the_users_page_with_activity_history_and_numbers(basic, basic_client):
    user = basic.drilldown["acc_0001"]["top_users_by_core"][0]
    response = basic_client.get(basic.user_url(user))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-testid="user-id">{user}<' in html

    activity = _section(html, "recent-activity")
    rows = activity.count("<tr>") - 1  # minus the header row
    assert 0 < rows <= 100
    # features are matched by the engine's rules: some events name one
    assert 'class="badge text-bg-info' in activity

    history = _section(html, "account-history")
    assert "/o/basic/p/app/accounts/acc_0001/" in history
    assert "Current" in history

    numbers = _section(html, "per-account")
    assert 'data-account-id="acc_0001"' in numbers


def test_it_counts_the_same_visits_as_the_drilldown(basic, basic_client):
    """The per-account visits come from the engine's sessions, as the Users list's do."""
    drilldown = basic_client.get(basic.account_url("acc_0002")).content.decode()
    start = drilldown.index('data-testid="users-table"')
    first_row = re.search(
        r'data-user-id="([^"]+)".*?</td>\s*<td[^>]*>.*?</td>\s*<td[^>]*>.*?</td>'
        r'\s*<td[^>]*>.*?</td>\s*<td class="text-end">(\d+)</td>\s*<td class="text-end">(\d+)</td>',
        drilldown[start:],
        re.S,
    )
    assert first_row
    user, visits, lifetime = first_row.groups()
    html = basic_client.get(basic.user_url(user)).content.decode()
    row = re.search(r'data-account-id="acc_0002">(.*?)</tr>', html, re.S)
    assert row
    cells = re.findall(r'<td class="text-end">([^<]*)</td>', row.group(1))
    # events, active days, visits, lifetime visits, average session
    assert cells[2] == visits
    assert cells[3] == lifetime
