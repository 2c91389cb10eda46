"""The Content-Security-Policy in a real browser: every kind of page, with its htmx swaps,
loads with nothing blocked; and the policy really blocks an inline script and style."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PageProblems, login
from tests.conftest import PASSWORDS
from tests.explorer.conftest import import_fixture
from vitals.tenancy.services import membership_set

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TABLE = "[data-testid='accounts-table']"


def test_it_loads_every_kind_of_page_and_swap_with_nothing_blocked(
    page: Page, page_problems: PageProblems, alice
):
    micro = import_fixture("micro")
    membership_set(organization=micro.organization, user=alice, role="admin")
    login(page, email="alice@acme.test", password=PASSWORDS["alice"])
    header = page.request.get("/o/m/p/p/").headers["content-security-policy"]
    assert "script-src 'self'" in header and "unsafe-inline" not in header

    page.goto("/o/m/p/p/?last_seen=all")
    # base.html's htmx-config parsed: nothing htmx does needs an inline style or eval.
    config = page.evaluate(
        "({indicator: htmx.config.includeIndicatorStyles, evaluate: htmx.config.allowEval,"
        " cache: htmx.config.historyCacheSize, settle: htmx.config.attributesToSettle})"
    )
    assert config == {
        "indicator": False,
        "evaluate": False,
        "cache": 0,
        "settle": ["class", "width", "height"],
    }
    expect(page.locator(f"{TABLE} tbody tr[data-account]")).to_have_count(2)
    # htmx swaps (indicator classes and all) under the policy.
    page.locator(f"{TABLE} th[data-col='score'] a").click()
    expect(page).to_have_url(re.compile(r"sort=-score"))
    page.get_by_label("Search accounts by name or ID").fill("xco")
    expect(page).to_have_url(re.compile(r"q=xco"))
    expect(page.locator(f"{TABLE} tbody tr[data-account]")).to_have_count(1)
    # Back and forward come from the server (no history cache), still in place.
    page.go_back()
    expect(page.locator(f"{TABLE} tbody tr[data-account]")).to_have_count(2)
    page.go_forward()
    expect(page.locator(f"{TABLE} tbody tr[data-account]")).to_have_count(1)
    assert page.evaluate("sessionStorage.getItem('htmx-history-cache')") is None

    page.goto("/o/m/p/p/report/group-by/?metric=visits&by=status")
    bar = page.locator("#groupby-chart .groupby-current rect").first
    expect(bar).to_be_attached()
    # The chart's colours come from static/css/groupby.css, no longer an inline <style>.
    primary = page.evaluate(
        "getComputedStyle(document.body).getPropertyValue('--bs-primary').trim()"
    )
    assert primary == "#0d6efd"
    assert bar.evaluate("rect => getComputedStyle(rect).fill") == "rgb(13, 110, 253)"

    page.goto("/o/m/p/p/accounts/X/")
    expect(page.get_by_test_id("account-name")).to_contain_text("Xco")
    page.goto("/o/m/p/p/users/u1/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()

    page.goto("/o/m/settings/")
    expect(page.get_by_test_id("members-table")).to_contain_text("alice@acme.test")
    page.goto("/o/m/settings/products/p/")
    # settings.js moves the threshold tracks through CSS custom properties (CSSOM).
    page.locator("[data-number='lower']").first.fill("35")
    page.goto("/o/m/settings/products/p/catalog/")
    page.goto("/o/m/settings/products/p/catalog/features/new/")
    page.goto("/o/m/settings/audit/")
    assert page_problems.errors == []


def test_it_blocks_inline_script_and_style_and_reports_it(
    page: Page, page_problems: PageProblems, alice, product
):
    login(page, email="alice@acme.test", password=PASSWORDS["alice"])
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.injected = true";
          document.body.appendChild(script);
          const box = document.createElement("div");
          box.innerHTML = '<p id="styled" style="color: rgb(255, 0, 0)">x</p>';
          document.body.appendChild(box);
        }"""
    )
    assert page.evaluate("window.injected === undefined")
    assert page.evaluate("getComputedStyle(document.getElementById('styled')).color") != (
        "rgb(255, 0, 0)"
    )
    expect(page.locator("body")).to_be_visible()
    page.wait_for_timeout(200)  # violation events are dispatched asynchronously
    blocked = [error for error in page_problems.errors if "CSP violation" in error]
    assert any("script-src" in error for error in blocked), page_problems.errors
    assert any("style-src" in error for error in blocked), page_problems.errors
