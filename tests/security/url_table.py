"""What every URL pattern of the project answers, per person and method.

One row per pattern name. A pattern added to the URL conf without a row here fails
test_url_walk, so every new URL forces a decision about who may open it.

People: anonymous (no session, no token), outsider (charlie, admin of Globex only),
member (bob, a member of Acme) and admin (alice, an admin of Acme). Each carries a session
and their organization's API token. Answers: a status code, or LOGIN for a redirect to the
login page that comes back to the URL afterwards.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver

LOGIN = "login"
ROLES = ("anonymous", "outsider", "member", "admin")


@dataclass(frozen=True)
class Expect:
    anonymous: int | str
    outsider: int | str
    member: int | str
    admin: int | str

    def of(self, role: str) -> int | str:
        return getattr(self, role)


def everyone(answer: int | str) -> Expect:
    return Expect(answer, answer, answer, answer)


@dataclass(frozen=True)
class Route:
    get: Expect
    post: Expect
    # The body of the POST; the admin's (or member's) request must do the real thing.
    body: Callable[[Any], dict[str, Any]] = field(default=lambda world: {})
    json_body: bool = False


# --- the profiles most URLs share ---------------------------------------------------------
# Organization URLs: the tenant middleware sends anonymous people to log in and answers
# 404 to non-members before any view runs; admin_required answers 403 to members.
MEMBER_PAGE = Expect(LOGIN, 404, 200, 200)
ADMIN_PAGE = Expect(LOGIN, 404, 403, 200)
ADMIN_REDIRECT = Expect(LOGIN, 404, 403, 302)  # a page that forwards to the first product
ORG_WRONG_METHOD = Expect(LOGIN, 404, 405, 405)
ADMIN_ACTION = Expect(LOGIN, 404, 403, 302)  # a POST that redirects after its change
MEMBER_ACTION = Expect(LOGIN, 404, 302, 302)
# The REST API: a bearer token opens one organization; nothing of another one exists.
API_READ = Expect(401, 404, 200, 200)
API_LIST = Expect(401, 200, 200, 200)  # the outsider sees Globex's list, never Acme's
API_WRONG_METHOD = Expect(401, 405, 405, 405)


def _member_page(**kwargs: Any) -> Route:
    return Route(get=MEMBER_PAGE, post=ORG_WRONG_METHOD, **kwargs)


def _admin_page() -> Route:
    return Route(get=ADMIN_PAGE, post=ORG_WRONG_METHOD)


def _admin_action(body: Callable[[Any], dict[str, Any]], admin: int = 302) -> Route:
    return Route(get=ORG_WRONG_METHOD, post=Expect(LOGIN, 404, 403, admin), body=body)


def _ingestion() -> Route:
    # Write-key endpoints: no session or token opens them, only a write key (tested in
    # tests/ingestion); without one every caller gets 401.
    return Route(
        get=everyone(405),
        post=everyone(401),
        body=lambda world: {"batch": [], "userId": "u", "event": "E"},
        json_body=True,
    )


def _api_read() -> Route:
    return Route(get=API_READ, post=API_WRONG_METHOD)


def _settings_body(world: Any) -> dict[str, Any]:
    return {
        "core_items": ["feature:report-opened"],
        "stickiness_mode": "wau",
        "cfu_lower": "20",
        "cfu_upper": "60",
        "coverage_lower": "30",
        "coverage_upper": "70",
        "stickiness_lower": "10",
        "stickiness_upper": "30",
        "score_lower": "25",
        "score_upper": "45",
    }


def _config_body(world: Any) -> dict[str, Any]:
    from health.catalog import config_export
    from vitals.tenancy.scope import tenant_scope

    with tenant_scope(world.organization, world.product):
        config = config_export(product=world.product)
    config["features"][0]["name"] = "Report opened (imported)"
    payload = json.dumps(config).encode()
    return {"config": SimpleUploadedFile("config.json", payload, "application/json")}


ROUTES: dict[str, Route] = {
    # --- shell ---------------------------------------------------------------------------
    "home": Route(get=Expect(LOGIN, 302, 302, 302), post=everyone(405)),
    # A wrong password re-renders the form (200); the lockout has its own tests.
    "login": Route(
        get=everyone(200),
        post=everyone(200),
        body=lambda world: {"username": "nobody@acme.test", "password": "wrong"},
    ),
    "logout": Route(get=everyone(405), post=everyone(302)),
    "healthz": Route(get=everyone(200), post=everyone(405)),
    "organization_home": Route(get=Expect(LOGIN, 404, 302, 302), post=ORG_WRONG_METHOD),
    # --- accounts explorer (members) -----------------------------------------------------
    "explorer": _member_page(),
    "explorer_export": _member_page(),
    "account_detail": _member_page(),
    "user_detail": _member_page(),
    "groupby_report": _member_page(),
    "bookmarks": Route(
        get=MEMBER_PAGE,
        post=MEMBER_ACTION,
        body=lambda world: {"name": "Walked view", "view": "q=acme"},
    ),
    # alice's bookmark is shared: bob may open it but only its owner may change it.
    "bookmark_open": Route(get=Expect(LOGIN, 404, 302, 302), post=ORG_WRONG_METHOD),
    "bookmark_change": Route(
        get=ORG_WRONG_METHOD,
        post=Expect(LOGIN, 404, 403, 302),
        body=lambda world: {"name": "Renamed view"},
    ),
    # --- organization settings (admins) ---------------------------------------------------
    "settings_home": _admin_page(),
    "audit_log": _admin_page(),
    "quarantine": _admin_page(),
    "health_runs": _admin_page(),
    "account_settings_home": Route(get=ADMIN_REDIRECT, post=ORG_WRONG_METHOD),
    "catalog_home": Route(get=ADMIN_REDIRECT, post=ORG_WRONG_METHOD),
    "member_add": _admin_action(lambda world: {"email": "dana@acme.test", "role": "member"}),
    "member_role": _admin_action(lambda world: {"role": "admin"}),
    "member_remove": _admin_action(lambda world: {}),
    # Rendered, not redirected: the new key's secret is on this response only.
    "write_key_create": _admin_action(
        lambda world: {"product": world.product.key, "label": "walked"}, admin=200
    ),
    "write_key_revoke": _admin_action(lambda world: {}),
    "timezone_update": _admin_action(lambda world: {"timezone": "Asia/Tokyo"}),
    # --- product settings and catalog (admins) --------------------------------------------
    "account_settings": _admin_page(),
    "run_status": _admin_page(),
    "config_download": _admin_page(),
    "catalog": _admin_page(),
    "rule_preview": _admin_page(),
    "feature_new": _admin_page(),
    "feature_edit": _admin_page(),
    "account_settings_save": _admin_action(_settings_body),
    "config_upload": _admin_action(_config_body),
    "feature_create": _admin_action(
        lambda world: {
            "key": "export-run",
            "name": "Export run",
            "module_path": "Reports",
            "rule_kind": "event",
            "rule_value": "Export Run",
        }
    ),
    "feature_update": _admin_action(
        lambda world: {
            "name": "Report opened, renamed",
            "module_path": "Reports",
            "rule_kind": "event",
            "rule_value": "Report Opened",
        }
    ),
    "feature_move": _admin_action(lambda world: {"module_path": "Elsewhere"}),
    "feature_delete": _admin_action(lambda world: {}),
    "module_create": _admin_action(lambda world: {"path": "Exports"}),
    "module_delete": _admin_action(lambda world: {}),
    # --- Segment-compatible ingestion ------------------------------------------------------
    "ingest_batch": _ingestion(),
    "ingest_batch_alias": _ingestion(),
    "ingest_identify": _ingestion(),
    "ingest_group": _ingestion(),
    "ingest_track": _ingestion(),
    "ingest_page": _ingestion(),
    "ingest_screen": _ingestion(),
    "ingest_alias": _ingestion(),
    "ingest_identify_short": _ingestion(),
    "ingest_group_short": _ingestion(),
    "ingest_track_short": _ingestion(),
    "ingest_page_short": _ingestion(),
    "ingest_screen_short": _ingestion(),
    "ingest_alias_short": _ingestion(),
    "ingest_beacon_batch": _ingestion(),
    "ingest_import": _ingestion(),
    "ingest_import_slash": _ingestion(),
    # --- REST API ------------------------------------------------------------------------------
    # The OpenAPI schema describes the API's shape only, no data: public.
    "api_schema": Route(get=everyone(200), post=everyone(405)),
    "api_products": Route(get=API_LIST, post=API_WRONG_METHOD),
    "api_product": _api_read(),
    "api_portfolio": _api_read(),
    "api_accounts": _api_read(),
    "api_account_history": _api_read(),
    "api_account": _api_read(),
}

_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


@dataclass(frozen=True)
class Pattern:
    name: str | None
    route: str

    @property
    def parameters(self) -> list[str]:
        return _PARAMETER.findall(self.route)


def project_patterns() -> list[Pattern]:
    """Every URL pattern of the URL conf, includes resolved recursively."""

    def walk(entries: list[Any], prefix: str) -> Iterator[Pattern]:
        for entry in entries:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern):
                yield Pattern(name=entry.name, route=route)

    return list(walk(get_resolver().url_patterns, ""))
