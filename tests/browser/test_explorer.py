"""The Accounts Explorer in a real browser: quick filters, search, sort, the default
chip, columns chosen and dragged, back and forward; screenshots of each state."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PageProblems, login, screenshot
from tests.conftest import PASSWORDS
from tests.explorer.conftest import import_fixture
from vitals.tenancy.services import membership_set

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TABLE = "[data-testid='accounts-table']"


def rows(page: Page):
    return page.locator(f"{TABLE} tbody tr[data-account]")


def test_it_explores_accounts_with_filters_search_sort_and_columns(
    page: Page, page_problems: PageProblems, alice
):
    basic = import_fixture("basic")
    membership_set(organization=basic.organization, user=alice, role="admin")
    login(page, email="alice@acme.test", password=PASSWORDS["alice"])
    page.goto("/o/basic/p/app/")

    expect(page.get_by_test_id("as-of")).to_contain_text("31 October 2026")
    expect(rows(page)).to_have_count(9)
    screenshot(page, "explorer-basic")

    for key, label in (("healthy", "Healthy"), ("neutral", "Neutral"), ("at-risk", "At Risk")):
        page.locator(f"[data-filter='{key}']").click()
        expect(page).to_have_url(re.compile(rf"health={key}"))
        for health in rows(page).locator("td[data-col='health']").all_inner_texts():
            assert health.strip() == label
    screenshot(page, "explorer-at-risk")
    page.locator("[data-filter='all']").click()
    expect(rows(page)).to_have_count(9)

    page.get_by_label("Search accounts by name or ID").fill("stark")
    expect(page).to_have_url(re.compile(r"q=stark"))
    expect(rows(page)).to_have_count(1)
    screenshot(page, "explorer-search")
    page.get_by_label("Search accounts by name or ID").fill("")
    expect(rows(page)).to_have_count(9)

    page.locator(f"{TABLE} th[data-col='score'] a").click()
    expect(page).to_have_url(re.compile(r"sort=-score"))
    expect(page.locator(f"{TABLE} th[data-col='score']")).to_have_attribute(
        "aria-sort", "descending"
    )
    scores = rows(page).locator("td[data-col='score'] .cell-value").all_inner_texts()
    numbers = [float(s.rstrip("%")) for s in scores if s.strip() != "–"]
    assert numbers == sorted(numbers, reverse=True)

    page.get_by_label("Remove filter: Product Last Seen in the last 30 days").click()
    expect(page).to_have_url(re.compile(r"last_seen=all"))
    expect(rows(page)).to_have_count(10)
    screenshot(page, "explorer-chip-removed")

    page.get_by_test_id("column-chooser").locator("summary").click()
    page.locator("[data-chooser-list] li[data-key='industry'] input").check()
    expect(page.locator(f"{TABLE} th[data-col='industry']")).to_be_visible()
    expect(page).to_have_url(re.compile(r"cols=[^&]*industry"))
    source = page.locator("[data-chooser-list] li[data-key='industry']")
    target = page.locator("[data-chooser-list] li[data-key='name']")
    source.drag_to(target)
    expect(page.locator(f"{TABLE} thead th").first).to_have_attribute("data-col", "industry")
    screenshot(page, "explorer-columns")

    page.go_back()
    expect(page.locator(f"{TABLE} thead th").first).to_have_attribute("data-col", "name")
    page.go_back()
    expect(page.locator(f"{TABLE} th[data-col='industry']")).to_have_count(0)
    page.go_forward()
    expect(page.locator(f"{TABLE} th[data-col='industry']")).to_have_count(1)
    page.reload()
    expect(page.locator(f"{TABLE} th[data-col='industry']")).to_have_count(1)
    expect(rows(page)).to_have_count(10)
    assert page_problems.errors == []
