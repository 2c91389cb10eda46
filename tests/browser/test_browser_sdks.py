"""The browser SDKs (vendored by scripts/vendor_static.sh) in Chromium, on a customer's
page of another origin, pointed at a live Vitals: analytics.js (Segment's analytics-next)
posts text/plain bodies with the write key inside to its one-letter paths; RudderStack's
JS SDK posts JSON with Basic auth and an AnonymousId header (a CORS preflight), or beacons
with the key in the query string. Every call lands once in the key's product."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from django.db import connection
from playwright.sync_api import Browser, Response, Route

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


@dataclass
class Visit:
    """What a customer page's SDK did: its calls' types and messageIds, the responses of
    Vitals it got, and any request that tried to leave the machine."""

    sent: list[dict[str, str]]
    responses: list[tuple[str, str, int, str | None]] = field(default_factory=list)
    authorized: list[str] = field(default_factory=list)  # paths posted with Authorization
    outside: list[str] = field(default_factory=list)


def _visit(browser: Browser, live_server, url: str, *, answered: set[str]) -> Visit:
    """Open the customer's page, wait for its SDK's calls, and until Vitals has answered a
    POST on each path of `answered` (a beacon's answer comes after the page stopped
    waiting; a slow machine takes its time)."""
    vitals = urlsplit(live_server.url).netloc
    context = browser.new_context()
    visit = Visit(sent=[])

    def only_loopback(route: Route) -> None:
        # Nothing may leave the machine: the SDK must need no vendor's server at all.
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            visit.outside.append(route.request.url)
            route.abort()

    def record(response: Response) -> None:
        if vitals in response.url:
            allow = response.headers.get("access-control-allow-origin")
            path = urlsplit(response.url).path
            visit.responses.append((response.request.method, path, response.status, allow))
            if "authorization" in response.request.headers:
                visit.authorized.append(path)

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.on("response", record)
    page.goto(url)
    visit.sent = page.evaluate("window.sent")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not answered <= {
        path for method, path, _, _ in visit.responses if method == "POST"
    }:
        page.wait_for_timeout(100)
    context.close()
    return visit


def _wait_stored(message_ids: list[str]) -> dict[str, tuple[int, int, int]]:
    deadline = time.monotonic() + 10
    while len(_stored(message_ids)) < len(message_ids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _stored(message_ids)


def test_analytics_js_from_another_site_lands_every_call_once(
    browser: Browser, live_server, customer_site, product
):
    raw_key = write_key_create(product=product)[1]
    vitals = urlsplit(live_server.url).netloc
    query = urlencode({"writeKey": raw_key, "apiHost": f"{vitals}/v1"})
    visit = _visit(
        browser,
        live_server,
        f"{customer_site}/analytics_next.html?{query}",
        answered={"/v1/i", "/v1/g", "/v1/t", "/v1/p", "/v1/a"},
    )

    assert [call["type"] for call in visit.sent] == ["identify", "group", "track", "page", "alias"]
    message_ids = [call["messageId"] for call in visit.sent]
    stored = _wait_stored(message_ids[:4])
    assert set(stored) == set(message_ids[:4]), visit
    assert set(stored.values()) == {(1, product.organization_id, product.pk)}
    assert _stored(message_ids[4:]) == {}
    assert any("alias" in reason for reason in _rejected_reasons(product.pk))
    # Cross-origin posts, readable by the page (CORS), on analytics.js's own paths.
    paths = {path for _, path, _, _ in visit.responses}
    assert paths >= {"/v1/i", "/v1/g", "/v1/t", "/v1/p", "/v1/a"}, visit
    assert all(status == 200 and allow == "*" for _, _, status, allow in visit.responses), visit
    assert visit.outside == []


@pytest.mark.parametrize("beacon", [False, True], ids=["xhr", "beacon"])
def test_rudderstack_js_from_another_site_lands_every_call_once(
    browser: Browser, live_server, customer_site, product, beacon
):
    raw_key = write_key_create(product=product)[1]
    query = {"writeKey": raw_key, "dataPlaneUrl": live_server.url, "beacon": int(beacon)}
    visit = _visit(
        browser,
        live_server,
        f"{customer_site}/rudderstack.html?{urlencode(query)}",
        answered={"/beacon/v1/batch"} if beacon else {"/v1/identify", "/v1/track"},
    )

    assert sorted(call["type"] for call in visit.sent) == ["group", "identify", "page", "track"]
    message_ids = [call["messageId"] for call in visit.sent]
    stored = _wait_stored(message_ids)
    assert set(stored) == set(message_ids), visit
    assert set(stored.values()) == {(1, product.organization_id, product.pk)}
    # Its identify carries the traits in context.traits only: they are still the user's.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT traits->>'email' FROM ingestion_enduser WHERE external_id = 'rudder-user'"
        )
        assert cursor.fetchall() == [("r@customer.test",)]
    posts = [
        (path, status, allow) for method, path, status, allow in visit.responses if method == "POST"
    ]
    if beacon:
        # The page never reads a beacon's answer (no CORS needed): it must only be taken.
        assert {path for path, _, _ in posts} == {"/beacon/v1/batch"}, visit
        assert all(status == 200 for _, status, _ in posts), visit
    else:
        # JSON with Authorization and AnonymousId headers: not a "simple" request, so the
        # browser sent it only after our answer to its preflight allowed them.
        assert {path for path, _, _ in posts} >= {"/v1/identify", "/v1/track"}, visit
        assert set(visit.authorized) == {path for path, _, _ in posts}, visit
        assert all(status == 200 and allow == "*" for _, status, allow in posts), visit
    assert visit.outside == []
