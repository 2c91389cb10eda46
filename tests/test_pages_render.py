"""The shell renders with the test client: login form, vendored assets, error pages."""

from __future__ import annotations

import re

from django.core.management import call_command
from django.urls import reverse

from vitals.tenancy.services import write_key_create

STATIC_REF = re.compile(r'(?:src|href)="(/static/[^"]+)"')
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)


def _body(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def assert_csp_ready(html: str) -> None:
    assert not INLINE_SCRIPT.search(html), "inline <script> block"
    assert not INLINE_HANDLER.search(html), "inline event handler attribute"


def test_it_renders_the_login_form(client, db):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    html = response.content.decode()
    assert '<form method="post" action="/login/"' in html
    assert 'name="username"' in html
    assert 'name="password"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert_csp_ready(html)


def test_it_serves_every_asset_the_layout_references(client, db):
    html = client.get(reverse("login")).content.decode()
    refs = STATIC_REF.findall(html)

    assert "/static/vendor/htmx/htmx.min.js" in refs
    assert "/static/vendor/bootstrap/css/bootstrap.min.css" in refs
    assert "/static/vendor/bootstrap/js/bootstrap.bundle.min.js" in refs
    for url in refs:
        response = client.get(url)
        assert response.status_code == 200, url
        assert _body(response), url


def test_it_serves_the_pinned_vendored_versions(client, db):
    htmx = _body(client.get("/static/vendor/htmx/htmx.min.js"))
    bootstrap = _body(client.get("/static/vendor/bootstrap/css/bootstrap.min.css"))

    assert b'version:"2.0.11"' in htmx
    assert b"Bootstrap  v5.3.8" in bootstrap


def test_it_collects_the_vendored_files_with_the_production_storage(settings, tmp_path):
    # The vendored files must not point at source maps we do not ship: the manifest
    # storage rewrites every sourceMappingURL and fails on a missing target.
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }

    call_command("collectstatic", "--noinput", verbosity=0)

    assert (tmp_path / "staticfiles.json").exists()
    assert list(tmp_path.glob("vendor/htmx/htmx.min.*.js"))


def test_it_shows_the_explorer_placeholder_with_the_admin_navbar(alice_client):
    response = alice_client.get(reverse("explorer", args=["acme", "app"]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Accounts Explorer" in html
    assert "Acme App" in html
    assert "No health data yet: send events to this product's write key" in html
    assert 'href="/o/acme/settings/"' in html
    assert "alice@acme.test" in html
    assert_csp_ready(html)


def test_it_hides_the_settings_link_from_a_member(bob_client):
    response = bob_client.get(reverse("explorer", args=["acme", "app"]))

    assert response.status_code == 200
    assert b'href="/o/acme/settings/"' not in response.content


def test_it_lists_members_products_and_write_keys_in_settings(alice_client, bob, product):
    write_key, _ = write_key_create(product=product, label="server")

    response = alice_client.get(reverse("settings_home", args=["acme"]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "alice@acme.test" in html
    assert "bob@acme.test" in html
    assert "Admin" in html and "Member" in html
    assert write_key.prefix in html
    assert "Never" in html
    assert_csp_ready(html)


def test_it_says_plainly_when_a_page_is_not_found(alice_client):
    response = alice_client.get("/o/acme/no-such-page/")

    assert response.status_code == 404
    assert b"Not found" in response.content


def test_it_says_plainly_when_a_member_lacks_permission(bob_client):
    response = bob_client.get(reverse("settings_home", args=["acme"]))

    assert response.status_code == 403
    assert b"You don't have permission" in response.content


def test_it_tells_a_user_without_organization_to_ask_an_admin(client, db):
    from vitals.tenancy.services import user_get_or_create

    client.force_login(user_get_or_create(email="dora@nowhere.test", password="dora-password-1"))

    response = client.get(reverse("home"))

    assert response.status_code == 200
    assert b"You are not a member of any organization yet" in response.content


def test_it_tells_a_member_when_the_organization_has_no_product(bob_client, org):
    from vitals.tenancy.models import Product

    Product.dangerously_unscoped.filter(organization=org).delete()

    response = bob_client.get(reverse("organization_home", args=["acme"]))

    assert response.status_code == 200
    assert b"Acme has no products yet" in response.content
