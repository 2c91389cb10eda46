"""Walks every URL pattern of the project, GET and POST, as an anonymous visitor, an
outsider, a member and an admin, with real objects of Acme in every path parameter, and
checks each answer against the table in url_table.py. A URL added without a row in that
table fails here: someone has to decide who may open it."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse

from tests.security.conftest import ACCOUNT_ID, World, role_client
from tests.security.url_table import LOGIN, ROLES, ROUTES, Pattern, project_patterns

# What Acme's pages and API answers hold; none of it may reach the outsider.
ACME_MARKERS = [b"Acme", ACCOUNT_ID.encode(), b"alice@acme.test", b"report-opened"]


def test_it_has_a_row_for_every_url_pattern_and_no_other():
    patterns = project_patterns()
    unnamed = [pattern.route for pattern in patterns if not pattern.name]
    assert not unnamed, f"give these URL patterns a name and a row in url_table.py: {unnamed}"
    names = [pattern.name for pattern in patterns]
    assert len(names) == len(set(names)), "two URL patterns share a name"
    missing = sorted(set(names) - set(ROUTES))
    assert not missing, f"new URL patterns: add them to url_table.ROUTES: {missing}"
    stale = sorted(set(ROUTES) - set(names))
    assert not stale, f"url_table.ROUTES lists patterns that no longer exist: {stale}"


def test_it_finds_the_patterns_of_every_app():
    routes = {pattern.route for pattern in project_patterns()}
    for route in (
        "login/",
        "o/<slug:org_slug>/p/<slug:product_key>/accounts/<path:account_id>/",
        "o/<slug:org_slug>/settings/products/<slug:product_key>/catalog/features/"
        "<int:feature_id>/delete/",
        "v1/batch",
        "api/v1/products/<slug:product_key>/accounts/<path:account_id>/history/",
    ):
        assert route in routes


def url_of(pattern: Pattern, world: World) -> str:
    values = world.url_values()
    unknown = [name for name in pattern.parameters if name not in values]
    assert not unknown, f"{pattern.name}: give World.url_values() a real value for {unknown}"
    return reverse(pattern.name, kwargs={name: values[name] for name in pattern.parameters})


def answer_of(response) -> int | str:
    location = response.get("Location", "")
    if response.status_code == 302 and location.startswith(reverse("login") + "?next="):
        return LOGIN
    return response.status_code


def body_of(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


@pytest.mark.parametrize("role", ROLES)
def test_it_answers_every_url_as_the_table_says(role, world, alice, bob, charlie):
    users = {"admin": alice, "member": bob, "outsider": charlie}
    mismatches = []
    for pattern in project_patterns():
        route = ROUTES.get(pattern.name)
        if route is None:
            mismatches.append(f"{pattern.route} ({pattern.name}) has no row in url_table.ROUTES")
            continue
        url = url_of(pattern, world)
        # Each URL starts from the same world: its POST may delete or revoke things.
        with transaction.atomic():
            client = role_client(role, users=users, tokens=world.tokens)
            for method, expected in (("GET", route.get), ("POST", route.post)):
                if method == "GET":
                    response = client.get(url)
                elif route.json_body:
                    response = client.post(url, route.body(world), content_type="application/json")
                else:
                    response = client.post(url, route.body(world))
                content = body_of(response)
                seen = answer_of(response)
                if seen != expected.of(role):
                    mismatches.append(
                        f"{method} {url} ({pattern.name}) as {role}: "
                        f"expected {expected.of(role)}, got {seen} {content[:200]!r}"
                    )
                if role == "outsider":
                    leaked = [marker for marker in ACME_MARKERS if marker in content]
                    if leaked:
                        mismatches.append(f"{method} {url} shows the outsider {leaked}")
            transaction.set_rollback(True)
    assert not mismatches, "\n".join(mismatches)
