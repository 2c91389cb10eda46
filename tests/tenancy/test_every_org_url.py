"""Walks every URL pattern under /o/<org_slug>/: an outsider gets 404 on each, for GET and
POST, so a URL added later is covered without anyone remembering to add it here."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, get_resolver

SAMPLE_KWARGS = {"org_slug": "acme", "product_key": "app"}


def _walk(patterns, prefix=""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route


def organization_urls() -> list[str]:
    urls = []
    for route in _walk(get_resolver().url_patterns):
        if "<slug:org_slug>" not in route:
            continue
        url = route
        for name, value in SAMPLE_KWARGS.items():
            url = url.replace(f"<slug:{name}>", value)
        # Any other parameter gets a plausible value; the outsider must be refused first.
        while "<" in url:
            start, end = url.index("<"), url.index(">")
            converter = url[start + 1 : end].split(":")[0]
            url = url[:start] + ("1" if converter == "int" else "x") + url[end + 1 :]
        urls.append("/" + url)
    return urls


def test_it_finds_the_organization_urls():
    urls = organization_urls()
    assert "/o/acme/" in urls and "/o/acme/p/app/" in urls and "/o/acme/settings/" in urls


def test_it_answers_404_to_an_outsider_on_every_organization_url(charlie_client, alice):
    for url in organization_urls():
        for method in (charlie_client.get, charlie_client.post):
            response = method(url)
            assert response.status_code == 404, (method.__name__, url, response.status_code)
            assert b"Acme" not in response.content


def test_it_answers_for_members_on_every_organization_url_without_a_server_error(bob_client):
    for url in organization_urls():
        response = bob_client.get(url)
        assert response.status_code in (200, 302, 403, 404, 405), (url, response.status_code)
