"""The layout around every page: log in, navbar by role, switchers, log out."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PageProblems, login, screenshot
from tests.conftest import PASSWORDS
from vitals.tenancy.services import membership_set, write_key_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAVBAR = "nav.navbar"


def test_it_logs_an_admin_in_to_the_explorer_with_settings_in_the_navbar(
    page: Page, page_problems: PageProblems, alice, product
):
    login(page, email="alice@acme.test", password=PASSWORDS["alice"])

    expect(page).to_have_url(re.compile(r"/o/acme/p/app/$"))
    expect(page.get_by_role("heading", name="Accounts Explorer")).to_be_visible()
    expect(page.get_by_test_id("product-name")).to_contain_text("Acme App")
    expect(
        page.get_by_text("No health data yet: send events to this product's write key")
    ).to_be_visible()
    navbar = page.locator(NAVBAR)
    expect(navbar.get_by_role("link", name="Vitals")).to_be_visible()
    expect(navbar.get_by_role("link", name="Accounts Explorer")).to_be_visible()
    expect(navbar.get_by_role("link", name="Settings")).to_be_visible()
    expect(navbar.get_by_test_id("user-menu")).to_contain_text("alice@acme.test")
    # The vendored scripts really loaded (no CDN, nothing blocked).
    assert page.evaluate("typeof window.htmx") == "object"
    assert page.evaluate("window.htmx.version") == "2.0.11"
    assert page.evaluate("window.htmx.config.allowEval") is False
    assert page.evaluate("typeof window.bootstrap.Dropdown") == "function"
    screenshot(page, "explorer-admin")
    assert page_problems.errors == []


def test_it_shows_the_admin_the_settings_tables(
    page: Page, page_problems: PageProblems, alice, bob, product
):
    write_key_create(product=product, label="server")
    login(page, email="alice@acme.test", password=PASSWORDS["alice"])

    page.locator(NAVBAR).get_by_role("link", name="Settings").click()

    expect(page).to_have_url(re.compile(r"/o/acme/settings/$"))
    expect(page.get_by_test_id("members-table")).to_contain_text("alice@acme.test")
    expect(page.get_by_test_id("members-table")).to_contain_text("bob@acme.test")
    expect(page.get_by_test_id("products-table")).to_contain_text("Acme App")
    expect(page.get_by_test_id("write-keys-table")).to_contain_text("Active")
    screenshot(page, "settings-admin")
    assert page_problems.errors == []


def test_it_hides_settings_from_a_plain_member(
    page: Page, page_problems: PageProblems, bob, product
):
    login(page, email="bob@acme.test", password=PASSWORDS["bob"])

    expect(page).to_have_url(re.compile(r"/o/acme/p/app/$"))
    navbar = page.locator(NAVBAR)
    expect(navbar.get_by_role("link", name="Accounts Explorer")).to_be_visible()
    expect(navbar.get_by_role("link", name="Settings")).to_have_count(0)
    screenshot(page, "explorer-member")

    page.goto("/o/acme/settings/")
    expect(page.get_by_role("heading", name="You don't have permission")).to_be_visible()
    screenshot(page, "forbidden-member")


def test_it_shows_an_error_for_a_wrong_password(page: Page, page_problems: PageProblems, alice):
    login(page, email="alice@acme.test", password="not-her-password")

    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page).to_have_title("Log in · Vitals")
    expect(page.get_by_test_id("login-error")).to_be_visible()
    expect(page.get_by_label("Email")).to_have_value("alice@acme.test")
    screenshot(page, "login-error")
    assert page_problems.errors == []


def test_it_logs_out_from_the_user_menu(page: Page, page_problems: PageProblems, alice, product):
    login(page, email="alice@acme.test", password=PASSWORDS["alice"])
    expect(page).to_have_url(re.compile(r"/o/acme/p/app/$"))

    page.get_by_test_id("user-menu").get_by_role("button", name="alice@acme.test").click()
    screenshot(page, "user-menu-open", full_page=False)
    page.get_by_role("button", name="Log out").click()

    expect(page).to_have_url(re.compile(r"/login/$"))
    page.goto("/o/acme/p/app/")
    expect(page).to_have_url(re.compile(r"/login/\?next="))
    assert page_problems.errors == []


def test_it_switches_organization_from_the_navbar(
    page: Page, page_problems: PageProblems, alice, product, other_org, other_product
):
    membership_set(organization=other_org, user=alice, role="member")
    login(page, email="alice@acme.test", password=PASSWORDS["alice"])

    page.get_by_test_id("organization-switcher").get_by_role("button").click()
    screenshot(page, "organization-switcher-open", full_page=False)
    page.get_by_role("link", name="Globex").click()

    expect(page).to_have_url(re.compile(r"/o/globex/p/app/$"))
    expect(page.get_by_test_id("product-name")).to_contain_text("Globex App")
    # A member at Globex, so no Settings there.
    expect(page.locator(NAVBAR).get_by_role("link", name="Settings")).to_have_count(0)
    assert page_problems.errors == []


def test_it_collapses_the_navbar_on_a_phone(
    page: Page, page_problems: PageProblems, alice, product
):
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, email="alice@acme.test", password=PASSWORDS["alice"])

    navbar = page.locator(NAVBAR)
    expect(navbar.get_by_role("link", name="Settings")).to_be_hidden()
    screenshot(page, "explorer-phone-collapsed")
    navbar.get_by_role("button", name="Toggle navigation").click()
    # Bootstrap adds "show" once the collapse animation has finished.
    expect(page.locator("#vitals-nav")).to_have_class(re.compile(r"\bshow\b"))
    expect(navbar.get_by_role("link", name="Settings")).to_be_visible()
    screenshot(page, "explorer-phone-expanded")
    assert page_problems.errors == []
