"""Create (or update) the application's login role: what DATABASE_URL logs in as when
DATABASE_OWNER_URL is the owner. Run as the owner, once per cluster and role name (roles
are cluster-wide), before or after `migrate`.

The role can log in and is a member of `vitals_app` (whose privileges and policies it
works under), and nothing else: no superuser, no BYPASSRLS, no CREATEDB, no CREATEROLE,
no replication, owns nothing, so it can never become the owner (docs/security.md).
"""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from vitals.tenancy.rls import APP_ROLE, owner_session

ATTRIBUTES = "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION INHERIT"

# The same role vitals_app as migration tenancy/0002 creates, so the order does not matter.
ENSURE_APP_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
EXCEPTION WHEN duplicate_object THEN
    NULL;
END;
$$
"""

# What the role owns in this database, or may become: any of it disqualifies the name.
POWERS = """
SELECT r.rolsuper, r.rolbypassrls,
       (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid)
         + (SELECT count(*) FROM pg_proc p WHERE p.proowner = r.oid)
         + (SELECT count(*) FROM pg_namespace n WHERE n.nspowner = r.oid),
       (SELECT count(*) FROM pg_auth_members m
        JOIN pg_roles granted ON granted.oid = m.roleid
        WHERE m.member = r.oid AND granted.rolname <> %s)
FROM pg_roles r WHERE r.rolname = %s
"""


class Command(BaseCommand):
    help = "Create or update the application's login role (run as the owner)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the login role's name, e.g. vitals_web")
        parser.add_argument(
            "--password-env",
            metavar="VARIABLE",
            help="set the password from this environment variable (production); without it "
            "the role has no password, for local trust authentication",
        )

    def handle(self, *args: Any, name: str, password_env: str | None, **options: Any) -> None:
        password = None
        if password_env:
            password = os.environ.get(password_env)
            if not password:
                raise CommandError(f"{password_env} is unset or empty")
        with owner_session(), connection.cursor() as cursor:
            cursor.execute("SELECT current_user, current_database()")
            owner, database = cursor.fetchone()
            if name in (owner, APP_ROLE):
                raise CommandError(f"{name} is the owner or {APP_ROLE}; choose another name")
            cursor.execute(ENSURE_APP_ROLE)
            cursor.execute(POWERS, [APP_ROLE, name])
            row = cursor.fetchone()
            if row is not None and any(row):
                superuser, bypassrls, owned, memberships = row
                raise CommandError(
                    f"role {name} exists with powers a login role must not have (superuser "
                    f"{superuser}, BYPASSRLS {bypassrls}, {owned} objects owned here, "
                    f"{memberships} other role memberships): use another name"
                )
            verb = "CREATE" if row is None else "ALTER"
            # format() quotes the name and the password on the server side.
            statement = f"{verb} ROLE %I {ATTRIBUTES}" + (" PASSWORD %L" if password else "")
            cursor.execute("SELECT format(%s, %s, %s)", [statement, name, password])
            cursor.execute(cursor.fetchone()[0])
            cursor.execute("SELECT format('GRANT %%I TO %%I', %s, %s)", [APP_ROLE, name])
            cursor.execute(cursor.fetchone()[0])
            cursor.execute(
                "SELECT format('GRANT CONNECT ON DATABASE %%I TO %%I', %s, %s)",
                [
                    database,
                    name,
                ],
            )
            cursor.execute(cursor.fetchone()[0])
        action = "Created" if verb == "CREATE" else "Updated"
        self.stdout.write(f"{action} login role {name} (member of {APP_ROLE}) for {database}")
