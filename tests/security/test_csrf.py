"""CSRF on every state-changing POST: without the token the answer is 403 and nothing
changes; with the token that pages put in hx-headers on <body> (what htmx sends) the POST
does what the URL table says. The POST endpoints come from the URL conf via that table,
so a new one is covered here as soon as it has a row."""

from __future__ import annotations

import json
import re

import pytest
from django.db import transaction
from django.test import Client
from django.urls import resolve

from api.authentication import ApiTokenAuthentication
from settings_admin.models import AuditEntry
from tests.security.conftest import role_client
from tests.security.test_url_walk import answer_of, url_of
from tests.security.url_table import ROUTES, project_patterns

HX_HEADERS = re.compile(r"<body\b[^>]*\bhx-headers='([^']*)'")
# Authenticated by a write key or bearer token in the request, never by a cookie, so a
# forged cross-site request has nothing to ride on: these are the only exempt views.
EXEMPT_PREFIXES = ("ingest_", "api_")


def state_changing() -> list[str]:
    return [
        name
        for name, route in ROUTES.items()
        if route.post.admin not in (401, 405) and not name.startswith(EXEMPT_PREFIXES)
    ]


def hx_token(html: str) -> str:
    match = HX_HEADERS.search(html)
    assert match, "the page's <body> has no hx-headers"
    return json.loads(match.group(1))["X-CSRFToken"]


def test_it_finds_the_state_changing_endpoints():
    names = state_changing()
    for name in ("login", "logout", "bookmarks", "member_role", "config_upload", "feature_delete"):
        assert name in names
    assert len(names) >= 15


def test_it_exempts_only_the_endpoints_that_cookies_cannot_authenticate():
    exempt = []
    for pattern in project_patterns():
        callback = resolve_callback(pattern.route)
        if getattr(callback, "csrf_exempt", False):
            exempt.append(pattern.name)
            assert pattern.name.startswith(EXEMPT_PREFIXES), pattern.name
        if pattern.name.startswith("api_") and pattern.name != "api_schema":
            # No session authentication on the API: a cookie never opens it.
            assert callback.cls.authentication_classes == [ApiTokenAuthentication]
    assert {name for name in exempt if name.startswith("ingest_")} == {
        name for name in ROUTES if name.startswith("ingest_")
    }


def resolve_callback(route: str):
    sample = re.sub(r"<(?:int:)?\w+_id>", "1", route)
    sample = re.sub(r"<[^>]+>", "x", sample)
    return resolve("/" + sample).func


@pytest.mark.parametrize("who", ["anonymous", "admin"])
def test_it_puts_the_token_in_hx_headers_on_every_page(who, world, alice):
    client = role_client(who, users={"admin": alice}, tokens=world.tokens)
    pages = 0
    for pattern in project_patterns():
        if ROUTES[pattern.name].get.of(who) != 200:
            continue
        response = client.get(url_of(pattern, world))
        if response.streaming or "<body" not in response.content.decode(errors="replace"):
            continue  # JSON, CSV and htmx partials: no page around them
        assert len(hx_token(response.content.decode())) == 64, pattern.name
        pages += 1
    assert pages >= (1 if who == "anonymous" else 12)


def test_it_refuses_every_state_changing_post_without_the_token(world, alice):
    for name in state_changing():
        pattern = next(p for p in project_patterns() if p.name == name)
        route = ROUTES[name]
        who = "anonymous" if name == "login" else "admin"
        with transaction.atomic():
            client = role_client(
                who, users={"admin": alice}, tokens=world.tokens, enforce_csrf_checks=True
            )
            client.get("/login/")  # the CSRF cookie is set; only the token is missing
            audit_before = AuditEntry.dangerously_unscoped.count()
            response = client.post(url_of(pattern, world), route.body(world))
            assert response.status_code == 403, name
            assert b"CSRF verification failed" in response.content, name
            assert AuditEntry.dangerously_unscoped.count() == audit_before, name
            transaction.set_rollback(True)


def test_it_accepts_every_state_changing_post_with_the_hx_headers_token(world, alice):
    for name in state_changing():
        pattern = next(p for p in project_patterns() if p.name == name)
        route = ROUTES[name]
        who = "anonymous" if name == "login" else "admin"
        with transaction.atomic():
            client = role_client(
                who, users={"admin": alice}, tokens=world.tokens, enforce_csrf_checks=True
            )
            token = hx_token(client.get("/login/").content.decode())
            response = client.post(
                url_of(pattern, world), route.body(world), headers={"X-CSRFToken": token}
            )
            assert answer_of(response) == route.post.of(who), (name, response.status_code)
            transaction.set_rollback(True)


def test_it_refuses_a_token_from_another_session(world, alice):
    """A token is only good with its own cookie: one lifted from another visitor's page
    does not work."""
    mallory = Client(enforce_csrf_checks=True)
    stolen = hx_token(mallory.get("/login/").content.decode())
    client = role_client(
        "admin", users={"admin": alice}, tokens=world.tokens, enforce_csrf_checks=True
    )
    client.get("/login/")
    pattern = next(p for p in project_patterns() if p.name == "member_role")
    response = client.post(
        url_of(pattern, world), {"role": "admin"}, headers={"X-CSRFToken": stolen}
    )
    assert response.status_code == 403
