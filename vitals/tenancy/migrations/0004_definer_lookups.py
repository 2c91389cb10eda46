"""The cross-tenant lookups the application needs, as narrow SECURITY DEFINER functions.

Before this, seven code paths read through `rls_bypass(...)`, which switched the
transaction back to the owner: the application had to log in as the owner, so a statement
of an attacker's choosing could RESET ROLE. Each path now calls one of these functions
instead. They are owned by the owner (who bypasses the policies: superuser or BYPASSRLS),
run with a fixed search_path, are revoked from PUBLIC and granted to `vitals_app` only,
and each does one named thing and returns only what its caller needs. The application can
then log in as a role that owns nothing and cannot become the owner (docs/security.md).

A function's organization columns come from `tenancy_organization`, which has no policy:
they are there to save the caller a query, not because they are secret.
"""

from django.db import migrations

APP_ROLE = "vitals_app"

# name(argument types) -> (returns, body). All LANGUAGE sql, STABLE unless they write.
FUNCTIONS: dict[str, tuple[str, str]] = {
    # The membership check that decides a request's scope: the person's membership in the
    # organization with this slug.
    "vitals_membership_for(p_user_id bigint, p_organization_slug text)": (
        """TABLE(membership_id bigint, role text, organization_id bigint,
                 organization_slug text, organization_name text, organization_timezone text)""",
        """
        SELECT m.id, m.role::text, o.id, o.slug::text, o.name::text, o.timezone::text
        FROM tenancy_membership m
        JOIN tenancy_organization o ON o.id = m.organization_id
        WHERE m.user_id = p_user_id AND o.slug = p_organization_slug
        """,
    ),
    # A person's memberships across organizations (landing page, switcher), by name.
    "vitals_memberships_of_user(p_user_id bigint)": (
        """TABLE(membership_id bigint, role text, organization_id bigint,
                 organization_slug text, organization_name text, organization_timezone text)""",
        """
        SELECT m.id, m.role::text, o.id, o.slug::text, o.name::text, o.timezone::text
        FROM tenancy_membership m
        JOIN tenancy_organization o ON o.id = m.organization_id
        WHERE m.user_id = p_user_id
        ORDER BY o.name, o.id
        """,
    ),
    # The tracking API: the active (not revoked) write key with this hash, its product and
    # organization. The key decides the scope.
    "vitals_write_key_lookup(p_key_hash text)": (
        """TABLE(write_key_id bigint, product_id bigint, product_key text, product_name text,
                 organization_id bigint, organization_slug text, organization_name text,
                 organization_timezone text)""",
        """
        SELECT k.id, p.id, p.key::text, p.name::text,
               o.id, o.slug::text, o.name::text, o.timezone::text
        FROM tenancy_writekey k
        JOIN tenancy_product p ON p.id = k.product_id
        JOIN tenancy_organization o ON o.id = k.organization_id
        WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL
        """,
    ),
    # The REST API: the live token with this hash whose user is still a member of its
    # organization (the user's activity is checked by the caller, on auth_user).
    "vitals_api_token_lookup(p_token_hash text)": (
        """TABLE(token_id bigint, user_id bigint, last_used_at timestamptz,
                 organization_id bigint, organization_slug text, organization_name text,
                 organization_timezone text)""",
        """
        SELECT t.id, t.user_id::bigint, t.last_used_at,
               o.id, o.slug::text, o.name::text, o.timezone::text
        FROM api_apitoken t
        JOIN tenancy_organization o ON o.id = t.organization_id
        WHERE t.token_hash = p_token_hash AND t.revoked_at IS NULL
          AND EXISTS (
              SELECT FROM tenancy_membership m
              WHERE m.organization_id = t.organization_id AND m.user_id = t.user_id
          )
        """,
    ),
    # A Celery task has a health run's id only: the organization it belongs to.
    "vitals_health_run_organization(p_run_id bigint)": (
        """TABLE(organization_id bigint, organization_slug text, organization_name text,
                 organization_timezone text)""",
        """
        SELECT o.id, o.slug::text, o.name::text, o.timezone::text
        FROM health_healthrun r
        JOIN tenancy_organization o ON o.id = r.organization_id
        WHERE r.id = p_run_id
        """,
    ),
    # The nightly scheduler: every product's id and organization (ids only).
    "vitals_health_schedule_products()": (
        "TABLE(product_id bigint, organization_id bigint)",
        """
        SELECT p.id, p.organization_id FROM tenancy_product p
        ORDER BY p.organization_id, p.id
        """,
    ),
    # The nightly scheduler: the statuses of the runs of these (product, as-of day) pairs.
    "vitals_health_run_statuses(p_product_ids bigint[], p_as_ofs date[])": (
        "TABLE(product_id bigint, as_of date, status text)",
        """
        SELECT r.product_id, r.as_of, r.status::text
        FROM health_healthrun r
        JOIN unnest(p_product_ids, p_as_ofs) AS due(product_id, as_of)
          ON r.product_id = due.product_id AND r.as_of = due.as_of
        """,
    ),
    # The sweeper: runs queued before one time or running since before another (lost by
    # the queue or by a dead worker), with their organizations; ids only.
    "vitals_health_runs_lost(p_queued_before timestamptz, p_running_before timestamptz)": (
        "TABLE(run_id bigint, organization_id bigint, status text)",
        """
        SELECT r.id, r.organization_id, r.status::text
        FROM health_healthrun r
        WHERE (r.status = 'queued' AND r.queued_at < p_queued_before)
           OR (r.status = 'running' AND r.started_at < p_running_before)
        ORDER BY r.id
        """,
    ),
}


def _signature(declaration: str) -> str:
    """`f(p_a bigint, p_b text)` -> `f(bigint, text)`, for GRANT, REVOKE and DROP."""
    name, _, args = declaration.partition("(")
    types = [arg.split()[-1] for arg in args.rstrip(")").split(",") if arg.strip()]
    return f"{name}({', '.join(types)})"


def _create(declaration: str, returns: str, body: str) -> str:
    signature = _signature(declaration)
    return f"""
CREATE FUNCTION {declaration} RETURNS {returns}
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
{body.strip()}
$$;
REVOKE ALL ON FUNCTION {signature} FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE};
"""


SQL = "".join(_create(name, returns, body) for name, (returns, body) in FUNCTIONS.items())
REVERSE = "".join(f"DROP FUNCTION IF EXISTS {_signature(name)};\n" for name in FUNCTIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0003_policy_once_per_query"),
        ("api", "0001_initial"),
        ("health", "0012_pair_state_hot_updates"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
