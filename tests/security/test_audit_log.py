"""Every admin action leaves an audit entry (who, what, when, which organization), from the
settings pages and from the command line alike, and admins read them on the audit page."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from api.models import ApiToken
from api.services import api_token_create, api_token_revoke
from settings_admin.models import AuditEntry
from tests.security.conftest import role_client
from tests.security.test_url_walk import url_of
from tests.security.url_table import ROUTES, project_patterns


def admin_actions() -> list[str]:
    """Every POST under /o/<org>/settings/: the admin pages' writes, from the URL conf."""
    return [
        pattern.name
        for pattern in project_patterns()
        if "/settings/" in pattern.route and ROUTES[pattern.name].post.admin in (200, 302)
    ]


def entries() -> list[AuditEntry]:
    return list(AuditEntry.dangerously_unscoped.select_related("user").order_by("id"))


def test_it_finds_the_admin_actions():
    assert len(admin_actions()) == 14
    assert {"member_role", "write_key_revoke", "config_upload", "feature_delete"} <= set(
        admin_actions()
    )


def test_it_audits_every_admin_action_of_the_settings_pages(world, alice):
    client = role_client("admin", users={"admin": alice}, tokens=world.tokens)
    for name in admin_actions():
        pattern = next(p for p in project_patterns() if p.name == name)
        with transaction.atomic():
            before = AuditEntry.dangerously_unscoped.count()
            started = timezone.now()
            client.post(url_of(pattern, world), ROUTES[name].body(world))
            new = entries()[before:]
            assert new, f"{name} wrote no audit entry"
            for entry in new:
                assert entry.user == alice, name
                assert entry.organization_id == world.organization.pk, name
                assert entry.action and entry.target, name
                assert started - timedelta(seconds=1) <= entry.created_at <= timezone.now()
            transaction.set_rollback(True)


def test_it_shows_the_admin_who_did_what_on_the_audit_page(world, alice):
    client = role_client("admin", users={"admin": alice}, tokens=world.tokens)
    client.post(reverse("timezone_update", args=["acme"]), {"timezone": "Asia/Tokyo"})
    page = client.get(reverse("audit_log", args=["acme"])).content.decode()
    assert "organization.timezone" in page
    assert "alice@acme.test" in page
    assert "Asia/Tokyo" in page


@pytest.mark.django_db
def test_it_audits_api_tokens_issued_and_revoked(org, alice, bob):
    token, _ = api_token_create(organization=org, user=bob, name="bob's script", actor=alice)
    api_token_revoke(token=token, actor=alice)
    api_token_revoke(token=token, actor=alice)  # revoking twice changes nothing
    created, revoked = entries()
    assert (created.action, created.user, created.organization_id) == (
        "api_token.create",
        alice,
        org.pk,
    )
    assert created.target == f"API token {token.prefix}… of bob@acme.test"
    assert created.after == {"owner": "bob@acme.test", "name": "bob's script"}
    assert (revoked.action, revoked.user, revoked.after) == (
        "api_token.revoke",
        alice,
        {"revoked": True},
    )


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_it_audits_the_command_line_admin_actions(org, product, alice, bob, tmp_path):
    run("create_write_key", "--org", "acme", "--product", "app", "--label", "server")
    run("create_user", "--email", "dana@acme.test", "--org", "acme", "--role", "member")
    run("create_user", "--email", "dana@acme.test", "--org", "acme", "--role", "admin")
    run("create_user", "--email", "dana@acme.test", "--org", "acme", "--role", "admin")
    run("create_api_token", "--org", "acme", "--email", "bob@acme.test", "--name", "ci")
    prefix = ApiToken.dangerously_unscoped.get().prefix
    run("revoke_api_token", "--org", "acme", "--prefix", prefix)
    config = {
        "organization": {"slug": "acme", "name": "Acme", "timezone": "UTC"},
        "product": {"key": "app", "name": "Acme App"},
        "features": [{"key": "a", "name": "A", "module": "M", "rules": [{"event": "A"}]}],
        "settings": {"core_items": [{"feature": "a"}]},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    run("import_config", str(tmp_path / "config.json"))
    run("import_config", str(tmp_path / "config.json"))  # the same again: no change

    logged = [(entry.action, entry.target) for entry in entries()]
    assert logged == [
        ("write_key.create", logged[0][1]),
        ("member.add", "dana@acme.test"),
        ("member.role", "dana@acme.test"),
        ("api_token.create", f"API token {prefix}… of bob@acme.test"),
        ("api_token.revoke", f"API token {prefix}… of bob@acme.test"),
        ("config.import", "Acme App configuration"),
    ]
    assert all(entry.user is None and entry.organization_id == org.pk for entry in entries())

    client = role_client("admin", users={"admin": alice}, tokens={"admin": ""})
    page = client.get(reverse("audit_log", args=["acme"])).content.decode()
    assert page.count("command line") == len(logged)
