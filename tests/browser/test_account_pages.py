"""A CS manager opens an account's drill-down, flips its lists, filters its users, opens
a user's page and comes back: htmx swaps the lists in place and the URL follows."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PageProblems, login, screenshot
from tests.conftest import PASSWORDS
from tests.health.helpers import command, compute, fixture, ingest_file
from vitals.tenancy.models import Organization
from vitals.tenancy.services import membership_set

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ACCOUNT = "/o/basic/p/app/accounts/acc_0002/"


@pytest.fixture
def basic_for_alice(alice):
    source = fixture("basic")
    command("import_config", str(source / "config.json"))
    ingest_file(source / "events.jsonl", "basic", "app")
    for day in ("2026-08-20", "2026-09-15", "2026-10-05", "2026-10-20", "2026-10-31"):
        compute("basic", "app", day)
    membership_set(organization=Organization.objects.get(slug="basic"), user=alice, role="member")
    return json.loads((source / "expected_drilldown.json").read_text())["acc_0002"]


def _user_ids(page: Page) -> list[str]:
    return page.locator("[data-testid=users-table] tbody tr").evaluate_all(
        "rows => rows.map(row => row.dataset.userId)"
    )


def _keys(page: Page) -> list[str]:
    return page.locator("[data-testid=usage-table] tbody tr").evaluate_all(
        "rows => rows.map(row => row.dataset.key)"
    )


def test_it_drills_into_an_account_and_a_user_and_back(
    page: Page, page_problems: PageProblems, basic_for_alice
):
    expected = basic_for_alice
    login(page, email="alice@acme.test", password=PASSWORDS["alice"])
    page.goto(ACCOUNT)
    expect(page.get_by_test_id("account-name")).to_contain_text("Acme GmbH 2")
    expect(page.get_by_test_id("trend-chart")).to_be_visible()
    assert _user_ids(page) == expected["top_users_by_core"]
    screenshot(page, "account-drilldown")

    # Users: bottom, then ranked by visits; the lists swap in place, the URL follows.
    page.get_by_role("group", name="Users end of the ranking").get_by_role(
        "link", name="Bottom"
    ).click()
    expect(page).to_have_url(re.compile(r"users=bottom"))
    expect(page.locator("[data-testid=users-table] tbody tr").first).to_have_attribute(
        "data-user-id", expected["top_users_by_core"][-1]
    )
    page.get_by_role("group", name="Rank users by").get_by_role("link", name="Visits").click()
    expect(page).to_have_url(re.compile(r"rank=visits"))
    expect(page.locator("[data-testid=users-table] tbody tr").first).to_have_attribute(
        "data-user-id", expected["top_users_by_visits"][-1]
    )
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

    # Features, then modules, bottom first.
    features = [key for key, _ in expected["features"]]
    assert _keys(page) == features[:10]
    page.get_by_role("group", name="Usage end of the ranking").get_by_role(
        "link", name="Bottom"
    ).click()
    expect(page.locator("[data-testid=usage-table] tbody tr").first).to_have_attribute(
        "data-key", features[-1]
    )
    page.get_by_role("group", name="Usage: features or modules").get_by_role(
        "link", name="Modules"
    ).click()
    modules = [key for key, _ in expected["modules"]]
    expect(page.locator("[data-testid=usage-table] tbody tr").first).to_have_attribute(
        "data-key", modules[-1]
    )
    # the users list kept its state through the other toggles
    expect(page).to_have_url(re.compile(r"users=bottom.*rank=visits|rank=visits.*users=bottom"))
    screenshot(page, "account-drilldown-toggled")

    # Filter users as one types: the input keeps focus and what was typed.
    wanted = expected["top_users_by_core"][0]
    box = page.get_by_label("Filter users by id")
    box.fill(wanted)
    expect(page.locator("[data-testid=users-table] tbody tr")).to_have_count(1)
    expect(box).to_be_focused()
    expect(box).to_have_value(wanted)
    expect(page).to_have_url(re.compile(rf"uq={wanted}"))
    screenshot(page, "account-drilldown-filtered")

    # Open the user's page, then go back to the same drill-down state.
    page.get_by_role("link", name=wanted, exact=True).click()
    expect(page.get_by_test_id("user-id")).to_have_text(wanted)
    expect(page.get_by_test_id("recent-activity")).to_be_visible()
    expect(page.get_by_test_id("account-history")).to_contain_text("Acme GmbH 2")
    screenshot(page, "user-page")
    page.go_back()
    expect(page.get_by_test_id("account-name")).to_contain_text("Acme GmbH 2")
    expect(page.locator("[data-testid=users-table] tbody tr")).to_have_count(1)
    expect(page.locator("[data-testid=usage-table] tbody tr").first).to_have_attribute(
        "data-key", modules[-1]
    )
    assert page_problems.errors == []


def test_it_works_without_javascript(browser, live_server, basic_for_alice):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    login(page, email="alice@acme.test", password=PASSWORDS["alice"])
    page.goto(ACCOUNT)
    page.get_by_role("group", name="Users end of the ranking").get_by_role(
        "link", name="Bottom"
    ).click()
    expect(page).to_have_url(re.compile(r"users=bottom"))
    assert _user_ids(page) == basic_for_alice["top_users_by_core"][::-1]
    context.close()
