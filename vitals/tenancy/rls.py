"""PostgreSQL Row-Level Security plumbing: the database enforces the tenant scope too.

Each new connection switches to the `vitals_app` role, which owns no table and is subject
to the policies of migration tenancy/0002. The connection logs in either as the
application's own login role (a member of `vitals_app` that owns nothing and cannot become
the owner; production, with DATABASE_OWNER_URL set for migrations) or as the owner (local
development and the test suite), which steps down with SET ROLE. Before the first
statement of every transaction, an execute wrapper sends

    SELECT set_config('role', ..., true), set_config('vitals.organization_id', ..., true)

with the organization of the tenant scope in force (empty: none). Both are transaction
local, so nothing outlives the transaction (safe behind a transaction-mode pooler), and it
is sent again only when the scope or bypass changes within the transaction. A statement
outside a transaction (autocommit) is wrapped in BEGIN ... COMMIT when a scope or bypass
is in force, else it runs as is and sees no tenant row.

These statements go through the driver directly, not Django's cursor: query counts and
captured queries show the application's own statements only.

`migrate` and `flush` run as the owner (`owner_session`): with DATABASE_OWNER_URL set they
reconnect with its credentials, else they RESET ROLE. `rls_bypass` needs an owner login:
on a connection that cannot become the owner it raises RlsBypassUnavailable. See
docs/security.md for the trade-offs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.backends.base.base import NO_DB_ALIAS, BaseDatabaseWrapper
from psycopg.pq import TransactionStatus

from vitals.tenancy.scope import current_rls_bypass, current_scope

APP_ROLE = "vitals_app"
SETTING = "vitals.organization_id"
# Present once migration tenancy/0002 ran in this database.
_READY_FUNCTION = "vitals_rls_protect(regclass)"
# Also: can the login become the owner (of that function, made by the migration)? A
# superuser can; the application's login role cannot. Before the migration: yes (moot).
_ENTER_APP_ROLE = (
    f"SELECT CASE WHEN to_regprocedure('{_READY_FUNCTION}') IS NOT NULL"
    f" THEN set_config('role', '{APP_ROLE}', false) END,"
    " coalesce(pg_has_role(session_user, (SELECT proowner FROM pg_proc"
    f" WHERE oid = to_regprocedure('{_READY_FUNCTION}')), 'MEMBER'), true)"
)
# Values are inlined (a role name of ours, an integer): no parameters lets "BEGIN; SELECT
# ..." go as one message, one round trip.
_SET_LOCAL = (
    "SELECT set_config('role', '{role}', true), set_config('" + SETTING + "', '{org}', true)"
)
# What a new transaction starts with: the app role, no organization.
_FRESH = (APP_ROLE, "")

_owner_sessions = 0


class RlsBypassUnavailable(RuntimeError):
    """rls_bypass on a connection that logs in as the application's role: it cannot
    become the owner, by design."""


@dataclass
class _ConnectionState:
    active: bool = False  # the connection works as APP_ROLE
    sent: tuple[str, str] | None = None  # what the open transaction has; None: unknown
    owner_login: bool = True  # the login can become the owner, so rls_bypass can work


def _state(connection: BaseDatabaseWrapper) -> _ConnectionState:
    state = connection.__dict__.get("_vitals_rls")
    if state is None:
        state = connection.__dict__["_vitals_rls"] = _ConnectionState()
    return state


def rls_active(connection: BaseDatabaseWrapper) -> bool:
    """Whether this connection works as the application role under row-level security."""
    return _state(connections[connection.alias]).active


def _wanted(state: _ConnectionState) -> tuple[str, str]:
    reason = current_rls_bypass()
    if reason is not None:
        if not state.owner_login:
            raise RlsBypassUnavailable(
                f"rls_bypass({reason!r}) needs the owner, but this connection logs in as the "
                "application's role, which cannot become it. Production code reads across "
                "organizations through the SECURITY DEFINER functions of migration "
                "tenancy/0004; operator work connects as the owner (DATABASE_URL)."
            )
        return ("none", "")  # SET LOCAL ROLE NONE: back to the owner for this transaction
    scope = current_scope()
    return (APP_ROLE, "" if scope is None else str(int(scope.organization.pk)))


def _send(raw: Any, wanted: tuple[str, str], *, begin: bool = False) -> None:
    role, org = wanted
    if role not in (APP_ROLE, "none") or not (org == "" or org.isdigit()):
        raise ValueError(f"unexpected row-level security settings {wanted!r}")
    statement = _SET_LOCAL.format(role=role, org=org)
    raw.execute(f"BEGIN; {statement}" if begin else statement)


def _execute(
    execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    connection = context["connection"]
    state = _state(connection)
    if not state.active:
        return execute(sql, params, many, context)
    raw = connection.connection
    wanted = _wanted(state)
    if raw.autocommit:
        if wanted == _FRESH:
            return execute(sql, params, many, context)
        # One statement, one transaction: the settings need a transaction to live in.
        _send(raw, wanted, begin=True)
        try:
            result = execute(sql, params, many, context)
        except BaseException:
            with contextlib.suppress(Exception):
                raw.execute("ROLLBACK")
            raise
        raw.execute("COMMIT")
        return result
    status = raw.info.transaction_status
    if status == TransactionStatus.IDLE:
        state.sent = _FRESH  # this statement opens the transaction
    elif status != TransactionStatus.INTRANS:
        return execute(sql, params, many, context)  # failed transaction: it errors anyway
    if state.sent != wanted:
        _send(raw, wanted)
        state.sent = wanted
    try:
        return execute(sql, params, many, context)
    finally:
        if isinstance(sql, str) and sql.startswith("ROLLBACK TO SAVEPOINT"):
            state.sent = None  # settings made since the savepoint are undone


def _enter_app_role(connection: BaseDatabaseWrapper) -> None:
    state = _state(connection)
    state.sent = None
    row = connection.connection.execute(_ENTER_APP_ROLE).fetchone()
    state.active = row[0] is not None
    state.owner_login = bool(row[1])


def on_connection_created(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """connection_created receiver: every application connection works as APP_ROLE."""
    if connection.vendor != "postgresql" or connection.alias == NO_DB_ALIAS:
        return
    if _execute not in connection.execute_wrappers:
        connection.execute_wrappers.append(_execute)
    _state(connection).active = False
    if _owner_sessions == 0:
        _enter_app_role(connection)


# The connection settings DATABASE_OWNER_URL replaces for an owner session: the same
# database (its NAME, a test database's included), logged in as another role.
_OWNER_KEYS = ("USER", "PASSWORD", "HOST", "PORT")


@contextlib.contextmanager
def owner_session() -> Iterator[None]:
    """Work as the owner on every connection: for migrations and test-database flushes.

    With DATABASE_OWNER_URL set (the application logs in as its own role), the default
    connection is closed and reopened with the owner's credentials, and closed again at
    the end; without it, the owner login resets its role. Afterwards connections work as
    APP_ROLE again (if the database has it by then)."""
    global _owner_sessions
    owner = getattr(settings, "DATABASE_OWNER", None)
    swapped: dict[str, Any] | None = None
    _owner_sessions += 1
    try:
        if owner and _owner_sessions == 1:
            default = connections["default"]
            default.close()
            swapped = {key: default.settings_dict.get(key) for key in _OWNER_KEYS}
            default.settings_dict.update({key: owner[key] for key in _OWNER_KEYS})
        for connection in connections.all(initialized_only=True):
            state = _state(connection)
            if connection.connection is not None and state.active:
                connection.connection.execute("RESET ROLE")
                state.active = False
        yield
    finally:
        _owner_sessions -= 1
        if swapped is not None:
            default = connections["default"]
            default.close()
            default.settings_dict.update(swapped)
        if _owner_sessions == 0:
            for connection in connections.all(initialized_only=True):
                if connection.vendor == "postgresql" and connection.connection is not None:
                    _enter_app_role(connection)


# Every table of the schema with an organization_id column, and what protects it: the
# tenant tables. tests/security/test_row_level_security.py holds them all to the policy.
TENANT_TABLES_SQL = """
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
       EXISTS (
           SELECT FROM pg_policy p
           WHERE p.polrelid = c.oid AND p.polname = 'tenant_isolation' AND p.polcmd = '*'
             AND p.polpermissive
             AND pg_get_expr(p.polqual, p.polrelid) LIKE '%vitals.organization_id%'
             AND pg_get_expr(p.polwithcheck, p.polrelid) LIKE '%vitals.organization_id%'
       ) AS has_policy
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public'
  AND c.relkind IN ('r', 'p')
  AND EXISTS (
      SELECT FROM pg_attribute a
      WHERE a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped
  )
ORDER BY c.relname
"""


def tenant_tables(connection: BaseDatabaseWrapper) -> dict[str, bool]:
    """Each tenant table, and whether row-level security covers it fully (ENABLE, FORCE
    and the tenant_isolation policy for every command)."""
    with connection.cursor() as cursor:
        cursor.execute(TENANT_TABLES_SQL)
        return {name: rls and force and policy for name, rls, force, policy in cursor.fetchall()}
