"""Account Settings in a real browser: thresholds by slider and by typing, core items added
and removed, save, the recompute finishing, and the bands moving."""

from __future__ import annotations

import re
from datetime import timedelta

import orjson
import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from health.models import AccountHealth, Feature, HealthRun, HealthSettings
from health.services import health_compute
from ingestion.services import RawItem, messages_ingest
from tests.browser.conftest import PageProblems, login, screenshot
from tests.conftest import PASSWORDS
from vitals.tenancy.scope import tenant_scope

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def yesterday():
    return timezone.now().date() - timedelta(days=1)


@pytest.fixture
def computed(product, alice):
    """acc-1 with two users over the last 20 days; health computed as of yesterday.

    u1 exports reports and views dashboards daily, u2 exports on 5 days: stickiness
    (20 + 5) / 30 / 2 = 41.7 %, and with core item `export` CFU 100 %: score 70.8, Healthy.
    """
    organization = product.organization
    end = yesterday()
    messages: list[dict] = [
        {
            "type": "group",
            "userId": user,
            "groupId": "acc-1",
            "messageId": f"g-{user}",
            "timestamp": f"{end - timedelta(days=25)}T08:00:00Z",
        }
        for user in ("u1", "u2")
    ]
    for offset in range(20):
        day = end - timedelta(days=offset)
        messages.append(
            {
                "type": "track",
                "userId": "u1",
                "event": "Report Exported",
                "messageId": f"e1-{day}",
                "timestamp": f"{day}T10:00:00Z",
            }
        )
        messages.append(
            {
                "type": "page",
                "userId": "u1",
                "properties": {"path": "/dashboards/7"},
                "messageId": f"p1-{day}",
                "timestamp": f"{day}T10:05:00Z",
            }
        )
        messages.append(
            {
                "type": "track",
                "userId": "u1",
                "event": "Searched",
                "messageId": f"s1-{day}",
                "timestamp": f"{day}T10:07:00Z",
            }
        )
        if offset < 5:
            messages.append(
                {
                    "type": "track",
                    "userId": "u2",
                    "event": "Report Exported",
                    "messageId": f"e2-{day}",
                    "timestamp": f"{day}T11:00:00Z",
                }
            )
    with tenant_scope(organization, product):
        for key, name, module, labels, rules in [
            (
                "export",
                "Export report",
                "Reports/Exports",
                ["core"],
                [{"event": "Report Exported"}],
            ),
            ("dash", "View dashboard", "Dashboards", [], [{"page": "/dashboards/*"}]),
        ]:
            Feature.objects.create(
                organization=organization,
                product=product,
                key=key,
                name=name,
                module_path=module,
                labels=labels,
                rules=rules,
            )
        HealthSettings.objects.create(
            organization=organization, product=product, core_items=[{"feature": "export"}]
        )
        result = messages_ingest(
            product=product,
            items=[
                RawItem(index=i, message=m, raw=orjson.dumps(m)) for i, m in enumerate(messages)
            ],
            received_at=timezone.now(),
            source="test",
        )
        assert result.accepted == len(messages)
        health_compute(product=product, as_of=end, full=True)
    return product


def account_health(product) -> AccountHealth:
    return AccountHealth.dangerously_unscoped.filter(product=product).latest("as_of")


def test_it_changes_thresholds_and_core_items_and_the_bands_follow(
    page: Page, page_problems: PageProblems, computed
):
    before = account_health(computed)
    assert (before.health, round(before.product_score, 1)) == ("Healthy", 70.8)

    login(page, email="alice@acme.test", password=PASSWORDS["alice"])
    # The explorer shows the account as Healthy before the change.
    page.goto("/o/acme/p/app/?last_seen=all")
    expect(page.get_by_test_id("accounts-table")).to_contain_text("Healthy")
    page.goto("/o/acme/settings/")
    page.get_by_label("Settings sections").get_by_role("link", name="Account settings").click()
    expect(page).to_have_url(re.compile(r"/o/acme/settings/products/app/$"))
    expect(page.get_by_test_id("run-status")).to_contain_text("Done")
    core = page.get_by_test_id("core-items")
    expect(core.locator("li")).to_have_count(1)
    screenshot(page, "settings-account-initial")

    # Core items: add a module from the tree and a label, then remove the label again.
    page.get_by_role("tab", name="Modules").click()
    page.get_by_test_id("pick-modules").get_by_role("button", name=re.compile("Dashboards")).click()
    page.get_by_role("tab", name="Labels").click()
    page.get_by_test_id("pick-labels").get_by_role("button", name="core").click()
    expect(core.locator("li")).to_have_count(3)
    expect(page.get_by_test_id("core-count")).to_have_text("3")
    expect(page.get_by_test_id("pick-labels").get_by_role("button", name="core")).to_be_disabled()
    core.get_by_role("button", name="Remove core").click()
    expect(core.locator("li")).to_have_count(2)
    # Reorder: the module first.
    core.get_by_role("button", name="Move Dashboards up").click()
    expect(core.locator("li").first).to_contain_text("Dashboards")
    page.get_by_role("tab", name="Features").click()
    page.get_by_label("Search features").fill("dash")
    expect(
        page.get_by_test_id("pick-features").get_by_role("button", name=re.compile("Export"))
    ).to_be_hidden()

    # Product Score: the lower limit typed, the upper one with the slider's handle.
    score = page.get_by_test_id("threshold-product_score")
    score.get_by_label("Product Score lower limit", exact=True).fill("50")
    expect(score.get_by_label("Product Score lower limit (slider)")).to_have_value("50")
    upper_handle = score.get_by_label("Product Score upper limit (slider)")
    upper_handle.focus()
    page.keyboard.press("End")
    for _ in range(30):
        page.keyboard.press("ArrowLeft")
    expect(score.get_by_label("Product Score upper limit", exact=True)).to_have_value("70")
    expect(score.locator("[data-band-legend]")).to_have_text(
        "At Risk below 50%, Neutral from 50% to 70%, Healthy from 70%."
    )
    # The handles never cross: dragging lower past upper stops just below it.
    lower_handle = score.get_by_label("Product Score lower limit (slider)")
    lower_handle.focus()
    page.keyboard.press("End")
    expect(score.get_by_label("Product Score lower limit", exact=True)).to_have_value("69")
    score.get_by_label("Product Score lower limit", exact=True).fill("50")

    # A typed mistake is flagged at once, and the server refuses it keeping what was typed.
    cfu = page.get_by_test_id("threshold-core_feature_usage")
    cfu.get_by_label("Core Feature Usage upper limit", exact=True).fill("20")
    expect(
        cfu.get_by_text("The upper limit (20) must be above the lower one (30).")
    ).to_be_visible()
    screenshot(page, "settings-account-client-error")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_test_id("form-errors")).to_contain_text("Nothing was saved")
    expect(cfu.get_by_label("Core Feature Usage upper limit", exact=True)).to_have_value("20")
    expect(core.locator("li")).to_have_count(2)
    expect(score.get_by_label("Product Score upper limit", exact=True)).to_have_value("70")
    screenshot(page, "settings-account-server-error")
    assert account_health(computed).health == "Healthy"

    cfu.get_by_label("Core Feature Usage upper limit", exact=True).fill("60")
    page.get_by_role("button", name="Save settings").click()

    expect(page.get_by_text("Settings saved")).to_be_visible()
    expect(page.get_by_test_id("run-status")).to_have_attribute("data-status", "done")
    expect(page.get_by_test_id("run-status")).to_contain_text("Account health computed at")
    expect(page.get_by_test_id("audit-table")).to_contain_text("settings.update")
    expect(page.get_by_test_id("audit-table")).to_contain_text("[50.0, 70.0]")
    screenshot(page, "settings-account-saved")

    saved = HealthSettings.dangerously_unscoped.get(product=computed)
    assert saved.core_items == [{"module": "Dashboards"}, {"feature": "export"}]
    assert (saved.score_lower, saved.score_upper) == (50, 70)
    # CFU (2 + 1) / 2 / 2 = 75 %, score (75 + 41.7) / 2 = 58.3: Neutral under 50/70.
    after = account_health(computed)
    assert (after.health, round(after.product_score, 1)) == ("Neutral", 58.3)
    # ... and the explorer shows the new band.
    page.goto("/o/acme/p/app/?last_seen=all")
    table = page.get_by_test_id("accounts-table")
    expect(table).to_contain_text("Neutral")
    expect(table).not_to_contain_text("Healthy")
    screenshot(page, "settings-explorer-after")
    # The refused save answered 422 on purpose (Chromium logs it); nothing else went wrong.
    unexpected = [error for error in page_problems.errors if "status of 422" not in error]
    assert unexpected == []


def test_it_polls_a_queued_recompute_until_it_is_done(
    page: Page, page_problems: PageProblems, computed
):
    # With a worker (Redis) the run is queued first; the status polls every 2 s.
    run = HealthRun.dangerously_unscoped.create(
        organization=computed.organization, product=computed, as_of=yesterday()
    )
    login(page, email="alice@acme.test", password=PASSWORDS["alice"])
    page.goto("/o/acme/settings/products/app/")
    status = page.get_by_test_id("run-status")
    expect(status).to_have_attribute("data-status", "queued")
    expect(status).to_contain_text("Recompute queued")
    screenshot(page, "settings-run-queued", full_page=False)

    run.status, run.started_at = HealthRun.Status.RUNNING, timezone.now()
    run.save()
    expect(status).to_contain_text("Recomputing account health since", timeout=6_000)
    run.status, run.finished_at, run.rows = HealthRun.Status.DONE, timezone.now(), 1
    run.save()
    expect(status).to_have_attribute("data-status", "done", timeout=6_000)
    expect(status).to_contain_text("(1 account)")
    expect(status).not_to_have_attribute("hx-trigger", re.compile("every"))
    assert page_problems.errors == []


def test_it_turns_unmapped_activity_into_a_feature_with_a_preview(
    page: Page, page_problems: PageProblems, computed
):
    login(page, email="alice@acme.test", password=PASSWORDS["alice"])
    page.goto("/o/acme/settings/products/app/catalog/")
    tree = page.get_by_test_id("catalog-tree")
    expect(tree).to_contain_text("Export report")
    unmapped = page.get_by_test_id("unmapped-table")
    expect(unmapped).to_contain_text("Searched")
    screenshot(page, "settings-catalog")

    unmapped.get_by_role("row", name=re.compile("Searched")).get_by_role(
        "link", name="Make feature"
    ).click()
    expect(page.get_by_label("Key")).to_have_value("searched")
    expect(page.get_by_test_id("rule-preview-total")).to_have_text("20")
    page.get_by_role("button", name="Add a rule").click()
    page.get_by_label("Rule type").last.select_option("page")
    page.get_by_label("Event name or page path pattern").last.fill("/dashboards/*")
    expect(page.get_by_test_id("rule-preview-total")).to_have_text("40")
    expect(page.get_by_test_id("rule-preview")).to_contain_text("page /dashboards/*: 20")
    page.get_by_label("Module").fill("Navigation")
    screenshot(page, "settings-feature-form")
    page.get_by_role("button", name="Add feature").click()

    expect(page.get_by_text("Feature searched added.")).to_be_visible()
    expect(tree).to_contain_text("Navigation")
    expect(unmapped).not_to_contain_text("Searched")
    feature = Feature.dangerously_unscoped.get(key="searched")
    assert feature.rules == [{"event": "Searched"}, {"page": "/dashboards/*"}]
    assert feature.updated_by.username == "alice@acme.test"

    # Move it, then delete it (confirming the dialog).
    row = tree.locator('[data-feature="searched"]')
    row.get_by_label("Module of searched").fill("Tools/Search")
    row.get_by_role("button", name="Move").click()
    expect(page.get_by_text("Moved searched to Tools/Search.")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    tree.locator('[data-feature="searched"]').get_by_role("button", name="Delete searched").click()
    expect(page.get_by_text("Feature searched deleted.")).to_be_visible()
    screenshot(page, "settings-catalog-after")
    assert not Feature.dangerously_unscoped.filter(key="searched").exists()
    assert page_problems.errors == []


def test_it_administers_members_keys_and_the_time_zone(
    page: Page, page_problems: PageProblems, alice, bob, product
):
    login(page, email="alice@acme.test", password=PASSWORDS["alice"])
    page.goto("/o/acme/settings/")
    page.get_by_label("Add a person by email").fill("dana@acme.test")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_text("This is a new user with no password yet")).to_be_visible()
    expect(page.get_by_test_id("members-table")).to_contain_text("dana@acme.test")

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('[data-member="alice@acme.test"]').get_by_role("button", name="Remove").click()
    expect(page.get_by_text("The last admin cannot be removed")).to_be_visible()

    page.get_by_label("Label (optional)").fill("backend")
    page.get_by_role("button", name="Create write key").click()
    raw_key = page.get_by_test_id("raw-write-key").inner_text()
    assert raw_key.startswith("vk_")
    screenshot(page, "settings-organization-new-key")
    page.goto("/o/acme/settings/")
    expect(page.get_by_test_id("new-write-key")).to_have_count(0)
    assert raw_key not in page.content()

    page.get_by_label("IANA time zone").fill("Nowhere/Atlantis")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("is not an IANA time zone name")).to_be_visible()
    expect(page.get_by_label("IANA time zone")).to_have_value("Nowhere/Atlantis")
    page.get_by_label("IANA time zone").fill("Europe/Paris")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Time zone set to Europe/Paris")).to_be_visible()
    screenshot(page, "settings-organization")
    unexpected = [error for error in page_problems.errors if "status of 422" not in error]
    assert unexpected == []
