"""Security headers on every answer, the Content-Security-Policy's directives, pages with
nothing inline for it to block, session cookies, and HTTPS behind a proxy."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from tests.conftest import PASSWORDS
from tests.security.conftest import role_client
from tests.security.test_url_walk import url_of
from tests.security.url_table import ROUTES, project_patterns

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def policy_of(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.django_db
def test_it_sends_a_policy_that_allows_only_our_own_assets():
    response = Client().get("/login/")
    assert policy_of(response) == {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    assert "unsafe" not in response["Content-Security-Policy"]
    # The nonce is there for a template that needs an inline block ({{ csp_nonce }}).
    assert "csp_nonce" in response.context


@pytest.mark.django_db
def test_it_sends_the_other_security_headers_on_pages_api_and_ingestion():
    for response in (
        Client().get("/login/"),
        Client().get("/api/v1/products/"),
        Client().post("/v1/track", {}, content_type="application/json"),
    ):
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"
        assert "Content-Security-Policy" in response


def test_it_keeps_templates_free_of_inline_script_style_and_handlers():
    problems = []
    for path in TEMPLATES.rglob("*.html"):
        text = re.sub(r"\{#.*?#\}", "", path.read_text())  # comments are not rendered
        text = re.sub(r"\{% comment %\}.*?\{% endcomment %\}", "", text, flags=re.DOTALL)
        for tag in re.findall(r"<(?:script|style)\b[^>]*>", text):
            if "src=" not in tag and "csp_nonce" not in tag:
                problems.append(f"{path.name}: {tag}")
        problems += [f"{path.name}: {m}" for m in re.findall(r"\sstyle=\"[^\"]*\"", text)]
        problems += [f"{path.name}: {m}" for m in re.findall(r"\son[a-z]+=\"", text)]
        problems += [f"{path.name}: {m}" for m in re.findall(r"javascript:", text)]
    assert not problems, problems


def test_it_configures_htmx_to_inject_no_styles_eval_nothing_and_cache_no_pages():
    base = (TEMPLATES / "base.html").read_text()
    assert """"includeIndicatorStyles": false""" in base
    assert """"allowEval": false""" in base
    assert """"historyCacheSize": 0""" in base
    assert """"attributesToSettle": ["class", "width", "height"]""" in base


def test_it_renders_every_page_with_nothing_inline_for_the_policy_to_block(world, alice):
    """What the templates do not show: HTML and SVG built in Python. Every page the admin
    can open, as rendered."""
    client = role_client("admin", users={"admin": alice}, tokens=world.tokens)
    pages = 0
    for pattern in project_patterns():
        if ROUTES[pattern.name].get.admin != 200:
            continue
        response = client.get(url_of(pattern, world))
        if not response.get("Content-Type", "").startswith("text/html"):
            continue
        html = response.content.decode()
        pages += 1
        assert not re.search(r"<script\b(?![^>]*\bsrc=)[^>]*>", html), pattern.name
        assert not re.search(r"<style\b", html), pattern.name
        assert not re.search(r"\sstyle=", html), pattern.name
        assert not re.search(r"\son[a-z]+=", html), pattern.name
    assert pages >= 15


@pytest.mark.django_db
def test_it_ends_the_session_with_the_browser_and_after_twelve_hours_at_most(alice):
    client = Client()
    response = client.post(
        "/login/", {"username": "alice@acme.test", "password": PASSWORDS["alice"]}
    )
    assert response.status_code == 302
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == "" and cookie["expires"] == ""  # gone when the browser closes
    session = Session.objects.get(session_key=cookie.value)
    assert abs(session.expire_date - (timezone.now() + timedelta(hours=12))) < timedelta(minutes=1)
    assert client.cookies["csrftoken"]["httponly"] is True


@pytest.mark.django_db
def test_it_redirects_plain_http_and_sends_hsts_behind_a_tls_proxy(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    client = Client()

    plain = client.get("/login/")
    assert plain.status_code == 301
    assert plain["Location"] == "https://testserver/login/"
    # The container health check speaks plain http on purpose.
    assert client.get("/healthz").status_code == 200

    secure = client.get("/login/", headers={"X-Forwarded-Proto": "https"})
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
