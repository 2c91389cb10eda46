"""analytics.js (Segment's analytics-next, vendored by scripts/vendor_test_sdks.sh) in
Chromium on a customer's page of another origin, pointed at a live Vitals: cross-origin
posts with the write key in a text/plain body, on the one-letter paths. Every call lands
once in the key's product, except `alias`, refused with its reason."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from django.db import connection
from playwright.sync_api import Browser, Route

from vitals.tenancy.services import write_key_create

pytestmark = pytest.mark.django_db(transaction=True)

SDK_DIR = Path(__file__).resolve().parent / "sdk"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def customer_site() -> Iterator[str]:
    """The customer's site: the SDK and a page, on its own port (its own origin)."""
    handler = functools.partial(_QuietHandler, directory=str(SDK_DIR))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _server_threads_close_connections(monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)


def _stored(message_ids: list[str]) -> dict[str, tuple[int, int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT message_id, count(*), min(organization_id), min(product_id)"
            " FROM ingestion_event WHERE message_id = ANY(%s) GROUP BY message_id",
            [message_ids],
        )
        return {row[0]: tuple(row[1:]) for row in cursor.fetchall()}


def _rejected_reasons(product_id: int) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reason FROM ingestion_rejectedmessage WHERE product_id = %s", [product_id]
        )
        return [row[0] for row in cursor.fetchall()]


def test_analytics_js_from_another_site_lands_every_call_once(
    browser: Browser, live_server, customer_site, product
):
    raw_key = write_key_create(product=product)[1]
    vitals = urlsplit(live_server.url).netloc
    context = browser.new_context()
    outside: list[str] = []
    posts: list[tuple[str, int, str | None]] = []

    def only_loopback(route: Route) -> None:
        # Nothing may leave the machine: the SDK must need no Segment server at all.
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.on(
        "response",
        lambda response: (
            vitals in response.url
            and posts.append(
                (
                    urlsplit(response.url).path,
                    response.status,
                    response.headers.get("access-control-allow-origin"),
                )
            )
        ),
    )
    query = urlencode({"writeKey": raw_key, "apiHost": f"{vitals}/v1"})
    page.goto(f"{customer_site}/analytics_next.html?{query}")
    sent = page.evaluate("window.sent")

    assert [call["type"] for call in sent] == ["identify", "group", "track", "page", "alias"]
    message_ids = [call["messageId"] for call in sent]
    expected = {(product.organization_id, product.pk)}
    deadline = time.monotonic() + 10
    while len(_stored(message_ids[:4])) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    stored = _stored(message_ids)
    assert set(stored) == set(message_ids[:4]), (stored, posts, outside)
    assert {row[0] for row in stored.values()} == {1}
    assert {row[1:] for row in stored.values()} == expected
    assert any("alias" in reason for reason in _rejected_reasons(product.pk))
    # Cross-origin posts, readable by the page (CORS), on analytics.js's own paths.
    assert {path for path, _, _ in posts} >= {"/v1/i", "/v1/g", "/v1/t", "/v1/p", "/v1/a"}
    assert all(status == 200 and allow == "*" for _, status, allow in posts), posts
    context.close()
