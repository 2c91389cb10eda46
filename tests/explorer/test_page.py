"""The page around the table: as-of day, empty state, the no-core-items banner, the
Summary and Health widgets, and the partials htmx swaps."""

from __future__ import annotations

import json
import re

from django.core.management import call_command

from health.models import HealthSettings
from tests.explorer.conftest import seed_portfolio
from vitals.tenancy.scope import tenant_scope


def test_it_explains_how_to_send_events_while_the_product_has_no_data(alice_client, product):
    response = alice_client.get("/o/acme/p/app/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "No health data yet: send events to this product's write key" in html
    assert "/v1/batch" in html
    assert 'href="/o/acme/settings/"' in html
    assert "segment.com/docs" in html
    assert 'data-testid="accounts-table"' not in html


def test_it_tells_a_member_to_ask_an_admin_for_the_write_key(bob_client, product):
    html = bob_client.get("/o/acme/p/app/").content.decode()

    assert "Ask an admin of Acme for a write key" in html
    assert 'href="/o/acme/settings/"' not in html


def test_it_shows_the_as_of_day(basic_alice, basic):
    html = basic_alice.get(basic.url()).content.decode()

    assert 'Data as of <time datetime="2026-10-31">31 October 2026</time>' in html


def test_it_links_admins_to_settings_while_no_core_items_are_configured(
    alice_client, bob_client, org, product, alice, bob
):
    seed_portfolio(organization=org, product=product, as_of=product.created_at.date())

    admin = alice_client.get("/o/acme/p/app/").content.decode()
    member = bob_client.get("/o/acme/p/app/").content.decode()

    assert 'data-testid="no-core-items"' in admin
    assert "choose them in Settings" in admin and 'href="/o/acme/settings/"' in admin
    assert 'data-testid="no-core-items"' in member
    assert "an admin of Acme can choose them in Settings" in member
    assert "Not configured" in admin  # CFU and Product Score means


def test_it_drops_the_banner_once_core_items_exist(basic_alice, basic):
    with tenant_scope(basic.organization):
        assert HealthSettings.objects.get(product=basic.product).core_items

    html = basic_alice.get(basic.url()).content.decode()

    assert 'data-testid="no-core-items"' not in html


def test_it_shows_the_summary_of_export_health_with_changes(basic_alice, basic, tmp_path):
    call_command(
        "export_health",
        "--org",
        "basic",
        "--product",
        "app",
        "--out",
        str(tmp_path),
        "--as-of",
        str(basic.as_of),
        stdout=open("/dev/null", "w"),
    )
    summary = json.loads((tmp_path / "summary.json").read_text())

    html = basic_alice.get(basic.url()).content.decode()

    for key in (
        "total_accounts",
        "total_users",
        "accounts_at_risk",
        "users_at_risk",
        "active_accounts",
        "new_leads",
        "new_accounts",
    ):
        shown = re.search(rf'data-testid="figure-{key}">([^<]+)<', html).group(1)
        assert shown == f"{summary[key]:,}", key
    # Changes only where a prior value exists (SPEC 7).
    assert 'data-testid="change-total_accounts"' not in html
    assert 'data-testid="change-total_users"' not in html
    prior, current = summary["active_accounts_prev"], summary["active_accounts"]
    change = re.search(
        r'data-testid="change-active_accounts"[^>]*>(.*?)</span>\s*</dd>', html, re.S
    )
    expected = f"{(current - prior) / prior * 100:+.1f}%" if prior else "–"
    assert expected in change.group(1)


def test_it_shows_the_health_means_and_band_counts_of_export_health(basic_alice, basic, tmp_path):
    call_command(
        "export_health",
        "--org",
        "basic",
        "--product",
        "app",
        "--out",
        str(tmp_path),
        "--as-of",
        str(basic.as_of),
        stdout=open("/dev/null", "w"),
    )
    health = json.loads((tmp_path / "summary.json").read_text())["health"]

    html = basic_alice.get(basic.url()).content.decode()

    for metric, values in health.items():
        mean = re.search(rf'data-testid="mean-{metric}"[^>]*>([^<]+)<', html).group(1)
        assert mean == f"{values['mean']:.1f}%", metric
        for band, count in values.items():
            if band != "mean":
                # On hover (the bar's <title>) and in the screen-reader table.
                assert f"<title>{band}: {count} account" in html, (metric, band)
                assert f'<th scope="row">{band}</th><td>{count}</td>' in html
    assert 'role="img"' in html and "<desc id=" in html
    assert "Formula: (Core Feature Usage + Stickiness) / 2" in html


def test_it_serves_each_widget_alone_to_htmx(basic_alice, basic):
    for target, marker in (
        ("explorer-summary", 'id="explorer-summary"'),
        ("explorer-health", 'id="explorer-health"'),
    ):
        response = basic_alice.get(basic.url(), headers={"HX-Request": "true", "HX-Target": target})
        html = response.content.decode()
        assert marker in html
        assert "<html" not in html
        assert 'id="explorer-table"' not in html


def test_it_serves_the_whole_page_for_an_htmx_history_restore(basic_alice, basic):
    response = basic_alice.get(
        basic.url("?health=at-risk"),
        headers={
            "HX-Request": "true",
            "HX-Target": "explorer-table",
            "HX-History-Restore-Request": "true",
        },
    )

    assert b"<html" in response.content


def test_it_keeps_the_page_free_of_inline_scripts(basic_alice, basic):
    html = basic_alice.get(basic.url()).content.decode()

    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html, re.I)
    assert not re.search(r"\son[a-z]+\s*=", html, re.I)
