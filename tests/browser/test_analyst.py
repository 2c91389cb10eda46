"""Analyst tools in a real browser: advanced filters as chips, CSV export (a download),
saving and opening bookmarks, a frozen snapshot; screenshots of each state."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PageProblems, login, screenshot
from tests.conftest import PASSWORDS
from tests.explorer.conftest import seed_accounts, seed_portfolio

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TABLE = "[data-testid='accounts-table']"
AS_OF = date(2026, 6, 30)


def rows(page: Page):
    return page.locator(f"{TABLE} tbody tr[data-account]")


def test_it_filters_exports_and_bookmarks_a_view(
    page: Page, page_problems: PageProblems, alice, org, product
):
    seed_portfolio(organization=org, product=product, as_of=AS_OF)
    seed_accounts(organization=org, product=product, as_of=AS_OF, count=120)
    login(page, email="alice@acme.test", password=PASSWORDS["alice"])
    page.goto("/o/acme/p/app/?last_seen=all")
    expect(page.get_by_test_id("row-range")).to_have_text("1–50 of 120 accounts")

    # Add two filters through the form: they become chips and the URL says so.
    page.get_by_test_id("filters").locator("summary").click()
    form = page.locator("[data-filters-form]")
    form.get_by_label("Plan").fill("Pro")
    form.get_by_label("Product Score at least (%)").fill("50")
    screenshot(page, "analyst-filter-form")
    form.get_by_test_id("apply-filters").click()
    expect(page).to_have_url(re.compile(r"plan=Pro&score_min=50"))
    assert "industry=" not in page.url  # empty fields stay out of the URL
    chips = page.get_by_test_id("filter-chips")
    expect(chips.locator(".vitals-chip")).to_have_count(2)
    expect(page.get_by_test_id("row-range")).to_have_text("1–16 of 16 accounts")
    for plan in rows(page).locator("td[data-col='plan']").all_inner_texts():
        assert plan.strip() == "Pro"
    screenshot(page, "analyst-filter-chips")

    # Remove one chip; the other stays.
    page.get_by_label("Remove filter: Plan: Pro").click()
    expect(page).not_to_have_url(re.compile(r"plan=Pro"))
    expect(chips.locator(".vitals-chip")).to_have_count(1)
    expect(page.get_by_test_id("row-range")).to_have_text("1–50 of 53 accounts")
    screenshot(page, "analyst-chip-removed")

    # Export the view: a download of every matching row, in the table's columns.
    page.get_by_test_id("export").locator("summary").click()
    with page.expect_download() as info:
        page.get_by_test_id("export-view").click()
    download = info.value
    assert re.fullmatch(r"accounts-acme-app-2026-06-30\.csv", download.suggested_filename)
    with open(download.path(), encoding="utf-8") as handle:
        exported = list(csv.reader(io.StringIO(handle.read())))
    assert exported[0][:3] == ["Account", "Account ID", "Health"]
    assert len(exported) == 1 + 53
    screenshot(page, "analyst-export-menu")
    page.get_by_test_id("export").locator("summary").click()

    # Save the view as a shared bookmark, then come back to it from a plain view.
    page.get_by_test_id("bookmarks").locator("summary").click()
    panel = page.get_by_test_id("bookmarks-panel")
    panel.get_by_test_id("bookmark-name").fill("High scorers")
    panel.get_by_label("Share with Acme").check()
    panel.get_by_role("button", name="Save current view").click()
    expect(page.get_by_test_id("bookmark-message")).to_have_text("Saved “High scorers”.")
    expect(panel.locator("[data-bookmark]")).to_have_count(1)
    screenshot(page, "analyst-bookmark-saved")

    page.goto("/o/acme/p/app/?last_seen=all&sort=name")
    expect(page.get_by_test_id("filter-chips")).to_have_count(0)
    page.get_by_test_id("bookmarks").locator("summary").click()
    page.get_by_role("link", name="High scorers").click()
    expect(page).to_have_url(re.compile(r"score_min=50"))
    expect(page.get_by_label("Remove filter: Product Score ≥ 50%")).to_be_visible()
    expect(page.get_by_test_id("row-range")).to_have_text("1–50 of 53 accounts")

    # A frozen bookmark opens as a marked snapshot.
    page.get_by_test_id("bookmarks").locator("summary").click()
    panel = page.get_by_test_id("bookmarks-panel")
    panel.get_by_test_id("bookmark-name").fill("Frozen high scorers")
    panel.get_by_label("Freeze the accounts shown (snapshot)").check()
    panel.get_by_role("button", name="Save current view").click()
    expect(page.get_by_test_id("bookmark-message")).to_contain_text("Frozen high scorers")
    page.get_by_role("link", name="Frozen high scorers").click()
    expect(page.get_by_test_id("snapshot-banner")).to_contain_text("only the 53 accounts frozen")
    screenshot(page, "analyst-snapshot")
    assert page_problems.errors == []
