"""The application's login role, proven with real processes (scripts/prod_smoke.py).

prod-smoke runs gunicorn, the Celery worker and beat as a login role made by
`create_app_login` (DATABASE_URL) and migrations as the owner (DATABASE_OWNER_URL). The
checks here show that the web server's session user owns nothing, is no superuser, has no
BYPASSRLS and cannot SET ROLE to the owner, and that login, the explorer, ingestion, API
token authentication and a health run all work as it.
"""

from __future__ import annotations

import base64
import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg

WEB_APP_NAME = "vitals-smoke-web"
WORKER_APP_NAME = "vitals-smoke-worker"

# Run as the login role (manage.py shell): the smoke tenant through the ordinary services,
# each in its tenant scope. Prints one JSON line.
SETUP = """
import json, os
from api.services import api_token_create
from vitals.tenancy.models import Role
from vitals.tenancy.scope import tenant_scope
from vitals.tenancy.services import (
    membership_set, organization_create, product_create, user_get_or_create, write_key_create,
)
slug = os.environ["SMOKE_SLUG"]
organization = organization_create(slug=slug, name="Smoke " + slug)
product = product_create(organization=organization, key="web", name="Web")
user = user_get_or_create(email=slug + "@example.com", password=os.environ["SMOKE_PASSWORD"])
membership_set(organization=organization, user=user, role=Role.ADMIN)
_key, raw_key = write_key_create(product=product, label="smoke")
with tenant_scope(organization):
    _token, raw_token = api_token_create(organization=organization, user=user, name="smoke")
print(json.dumps({"username": user.get_username(), "write_key": raw_key, "token": raw_token}))
"""

# Run as the login role: queue a health run (the worker computes it); prints its id.
ENQUEUE = """
import os
from health.services import health_recompute_enqueue
from vitals.tenancy.models import Organization, Product
from vitals.tenancy.scope import tenant_scope
organization = Organization.objects.get(slug=os.environ["SMOKE_SLUG"])
with tenant_scope(organization):
    product = Product.objects.get(key="web")
    print(health_recompute_enqueue(product=product).pk)
"""


class LoginRoleError(Exception):
    pass


def login_role_name(owner_url: str) -> str:
    """A per-database name: roles are cluster-wide, databases of one cluster differ."""
    database = urlsplit(owner_url).path.lstrip("/") or "postgres"
    return "vitals_login_" + re.sub(r"[^a-z0-9_]", "_", database.lower())[:40]


def with_user(url: str, user: str, password: str, application_name: str) -> str:
    """`url` logged in as another role, with an application_name to find its sessions."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{user}:{urllib.parse.quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    query = urllib.parse.parse_qs(parts.query)
    query["application_name"] = [application_name]
    return urlunsplit(
        (parts.scheme, netloc, parts.path, urllib.parse.urlencode(query, doseq=True), "")
    )


def libpq_url(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


@dataclass
class Tenant:
    slug: str
    username: str
    password: str
    write_key: str
    token: str


def role_facts(owner_url: str, login: str) -> str:
    """The web server's sessions log in as `login`, which has no power over the schema."""
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as owner:
        users = {
            row[0]
            for row in owner.execute(
                "SELECT usename FROM pg_stat_activity"
                " WHERE application_name = %s AND datname = current_database()",
                [WEB_APP_NAME],
            )
        }
        if users != {login}:
            raise LoginRoleError(f"gunicorn's sessions log in as {sorted(users)}, not {login}")
        row = owner.execute(
            """
            SELECT r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb,
                   (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid)
                   + (SELECT count(*) FROM pg_proc p WHERE p.proowner = r.oid)
                   + (SELECT count(*) FROM pg_namespace n WHERE n.nspowner = r.oid),
                   (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = 'public'),
                   current_user
            FROM pg_roles r WHERE r.rolname = %s
            """,
            [login],
        ).fetchone()
    superuser, bypassrls, createrole, createdb, owned, tables, owner_name = row
    if superuser or bypassrls or createrole or createdb or owned:
        raise LoginRoleError(
            f"{login}: superuser {superuser}, BYPASSRLS {bypassrls}, CREATEROLE {createrole}, "
            f"CREATEDB {createdb}, owns {owned} objects"
        )
    if not tables:
        raise LoginRoleError("the schema has no tables: did migrate run?")
    return (
        f"gunicorn's sessions are {login}: no superuser, no BYPASSRLS, owns 0 of "
        f"{tables} relations (owner {owner_name})"
    )


def cannot_become_owner(owner_url: str, login_url: str) -> str:
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as owner:
        owner_name = owner.execute("SELECT current_user").fetchone()[0]
    with psycopg.connect(libpq_url(login_url), autocommit=True) as login:
        try:
            login.execute(psycopg.sql.SQL("SET ROLE {}").format(psycopg.sql.Identifier(owner_name)))
        except psycopg.errors.InsufficientPrivilege as exc:
            refused = str(exc).strip()
        else:
            raise LoginRoleError(f"SET ROLE {owner_name} succeeded as the login role")
        seen = login.execute("SELECT count(*) FROM tenancy_membership").fetchone()[0]
        if seen:
            raise LoginRoleError(f"without a setting the login role sees {seen} memberships")
    return f"SET ROLE {owner_name} refused ({refused}); no setting, 0 memberships seen"


def _request(
    opener: urllib.request.OpenerDirector,
    url: str,
    *,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(request, timeout=15) as response:
            return response.status, response.geturl(), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, url, exc.read()


def check_ingestion(base_url: str, tenant: Tenant) -> str:
    opener = urllib.request.build_opener()
    auth = base64.b64encode(f"{tenant.write_key}:".encode()).decode()
    body = json.dumps(
        {"batch": [{"type": "track", "event": "Smoke", "userId": "u1", "messageId": "smoke-1"}]}
    ).encode()
    status, _url, answer = _request(
        opener,
        f"{base_url}/v1/batch",
        data=body,
        headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"},
    )
    if status != 200 or not json.loads(answer).get("success"):
        raise LoginRoleError(f"POST /v1/batch answered {status}: {answer[:300]!r}")
    return f"POST /v1/batch 200 {answer[:120].decode(errors='replace')}"


def check_login_and_explorer(base_url: str, tenant: Tenant) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    _request(opener, f"{base_url}/login/")
    csrf = next((cookie.value for cookie in jar if cookie.name == "csrftoken"), None)
    if not csrf:
        raise LoginRoleError("the login page set no csrftoken cookie")
    form = urllib.parse.urlencode(
        {"username": tenant.username, "password": tenant.password, "csrfmiddlewaretoken": csrf}
    ).encode()
    status, landed, html = _request(
        opener, f"{base_url}/login/", data=form, headers={"Referer": f"{base_url}/login/"}
    )
    explorer = f"/o/{tenant.slug}/p/web/"
    if status != 200 or not landed.endswith(explorer):
        raise LoginRoleError(f"login landed on {landed} with {status}: {html[:200]!r}")
    status, _url, html = _request(opener, f"{base_url}{explorer}")
    if status != 200:
        raise LoginRoleError(f"GET {explorer} answered {status}")
    return f"login 302 -> {explorer} 200 ({len(html)} bytes)"


def check_api_token(base_url: str, tenant: Tenant) -> str:
    opener = urllib.request.build_opener()
    status, _url, body = _request(
        opener,
        f"{base_url}/api/v1/products/",
        headers={"Authorization": f"Bearer {tenant.token}"},
    )
    if status != 200 or b'"web"' not in body:
        raise LoginRoleError(f"GET /api/v1/products/ answered {status}: {body[:300]!r}")
    status, _url, _body = _request(
        opener, f"{base_url}/api/v1/products/", headers={"Authorization": "Bearer vt_wrong"}
    )
    if status != 401:
        raise LoginRoleError(f"a wrong token answered {status}, expected 401")
    return "Bearer token 200 with the product; a wrong token 401"


def wait_health_run(owner_url: str, run_id: int, *, seconds: float) -> str:
    end = time.monotonic() + seconds
    status = "unknown"
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as owner:
        while time.monotonic() < end:
            row = owner.execute(
                "SELECT status, error FROM health_healthrun WHERE id = %s", [run_id]
            ).fetchone()
            status = row[0] if row else "missing"
            if status == "done":
                return f"run {run_id} done by the worker"
            if status == "failed":
                raise LoginRoleError(f"run {run_id} failed: {row[1][:300]}")
            time.sleep(0.5)
    raise LoginRoleError(f"run {run_id} still {status} after {seconds:.0f}s")
