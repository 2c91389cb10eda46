"""Calling the SECURITY DEFINER lookups of migration tenancy/0004 and building model
instances from what they return.

They replace the row-level security bypasses of production code: the application role
calls them, they run as the owner, and each returns only what its caller needs. The
instances built here carry those fields; any other field is deferred (loaded on access,
inside a tenant scope).
"""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, models

from vitals.tenancy.models import Organization


def definer_rows(function: str, *args: Any) -> list[tuple[Any, ...]]:
    """`SELECT * FROM function(args...)`: one statement, like the query it replaces."""
    if not function.isidentifier() or not function.startswith("vitals_"):
        raise ValueError(f"not a vitals definer function: {function!r}")
    placeholders = ", ".join(["%s"] * len(args))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {function}({placeholders})", list(args))
        return cursor.fetchall()


def instance_from[M: models.Model](model: type[M], **values: Any) -> M:
    """A model instance as if loaded from the database with only these fields."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    if len(names) != len(values):
        raise ValueError(f"unknown fields for {model.__name__}: {sorted(set(values) - set(names))}")
    return model.from_db(DEFAULT_DB_ALIAS, names, [values[name] for name in names])


def organization_from(pk: int, slug: str, name: str, timezone: str) -> Organization:
    """The organization columns the lookups return, as an Organization."""
    return instance_from(Organization, id=pk, slug=slug, name=name, timezone=timezone)
