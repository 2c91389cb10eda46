"""The explorer's account search and trait filters through their indexes again, under
row-level security.

Under a policy PostgreSQL lets an index answer only leakproof operators, and neither
`LIKE` (the trigram indexes of health/0005) nor jsonb `@>` (the GIN index of 0002) is:
as `vitals_app`, a search or a trait filter read all of an organization's accounts
(docs/benchmarks.md, "UI"). These two SECURITY DEFINER functions find the matching
accounts by the index and return their ids. Each reads the organization from the
transaction's setting, never from an argument, so a caller gets the ids of the
organization in scope only, and nothing without one; the rows are then read as
`vitals_app`, under the policy. Owned by the owner, fixed search_path, revoked from
PUBLIC, EXECUTE granted to `vitals_app` only (as tenancy/0004's).

- `vitals_account_search(query)`: accounts whose name or external id contains the text,
  case-insensitively, the text matched literally (`%`, `_` and `\\` are not wildcards):
  exactly Django's `name__icontains | external_id__icontains`, the expressions the
  trigram indexes are built on.
- `vitals_account_traits_match(traits[])`: accounts whose traits contain any of the
  given objects (`traits @> ANY(...)`): one filter's alternatives (`{"seats": "42"}` or
  `{"seats": 42}`); the caller ANDs several filters.
- `vitals_account_trait_range(trait, min, max)`: accounts whose trait is a number within
  the bounds, by the trait's expression index when it has one (employees).
"""

import textwrap

from django.db import migrations

APP_ROLE = "vitals_app"

# The statements the functions run, with the organization in scope ($1) and the argument
# ($2). EXECUTE plans them with these values each call (a custom plan): the organization's
# size and the text decide between the match index and the organization's own rows, where
# a plan made once for any organization and any text would guess (tests/explorer/
# test_account_match_functions.py explains them).
SEARCH_QUERY = (
    "SELECT a.id FROM ingestion_account a WHERE a.organization_id = $1"
    " AND (UPPER(a.name::text) LIKE UPPER($2) OR UPPER(a.external_id::text) LIKE UPPER($2))"
)
TRAITS_QUERY = (
    "SELECT a.id FROM ingestion_account a WHERE a.organization_id = $1 AND a.traits @> ANY($2)"
)
# The trait's key is written into the statement (format's %1$L, a quoted literal), so the
# statement names the expression the trait's index is built on (0002: employees ...).
RANGE_QUERY = (
    "SELECT a.id FROM ingestion_account a WHERE a.organization_id = $1"
    " AND jsonb_typeof(a.traits -> %1$L) = 'number'"
    " AND ($2 IS NULL OR a.traits -> %1$L >= to_jsonb($2))"
    " AND ($3 IS NULL OR a.traits -> %1$L <= to_jsonb($3))"
)
# The organization in scope, as the policy reads it; NULL without one.
SCOPE = "nullif(current_setting('vitals.organization_id', true), '')::bigint"

FUNCTIONS: dict[str, tuple[str, str]] = {
    # Django's `icontains`: the text inside a LIKE pattern with its wildcards escaped.
    "vitals_account_search(p_query text)": (
        "SETOF bigint",
        rf"""
        DECLARE
            v_organization bigint := {SCOPE};
            v_pattern text := '%'
                || replace(replace(replace(p_query, '\', '\\'), '%', '\%'), '_', '\_') || '%';
        BEGIN
            IF v_organization IS NOT NULL THEN
                RETURN QUERY EXECUTE $q${SEARCH_QUERY}$q$ USING v_organization, v_pattern;
            END IF;
        END
        """,
    ),
    # A numeric trait between two bounds (either may be NULL); strings never pass.
    "vitals_account_trait_range(p_trait text, p_min float8, p_max float8)": (
        "SETOF bigint",
        f"""
        DECLARE
            v_organization bigint := {SCOPE};
        BEGIN
            IF v_organization IS NOT NULL THEN
                RETURN QUERY EXECUTE format($q${RANGE_QUERY}$q$, p_trait)
                    USING v_organization, p_min, p_max;
            END IF;
        END
        """,
    ),
    "vitals_account_traits_match(p_traits jsonb[])": (
        "SETOF bigint",
        f"""
        DECLARE
            v_organization bigint := {SCOPE};
        BEGIN
            IF v_organization IS NOT NULL THEN
                RETURN QUERY EXECUTE $q${TRAITS_QUERY}$q$ USING v_organization, p_traits;
            END IF;
        END
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
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
{textwrap.dedent(body).strip()}
$$;
REVOKE ALL ON FUNCTION {signature} FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE};
"""


SQL = "".join(_create(name, returns, body) for name, (returns, body) in FUNCTIONS.items())
REVERSE = "".join(f"DROP FUNCTION IF EXISTS {_signature(name)};\n" for name in FUNCTIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts_explorer", "0002_sort_indexes"),
        ("tenancy", "0004_definer_lookups"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
