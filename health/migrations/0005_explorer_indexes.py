"""Indexes for the Accounts Explorer at 100,000 accounts a day (accounts_explorer/).

Each sortable KPI gets (product_id, as_of, <column> NULLS FIRST, account_id): the table
sorts nulls as the lowest value and breaks ties on the account, so one index serves a
page of 50 in both directions (a backward scan is DESC NULLS LAST). The quick-filter
counts read (product_id, as_of, health, product_last_seen) alone. Raw SQL so the model
state stays as it is; CONCURRENTLY so adding them does not lock a live table.
"""

from django.db import migrations

SORTED_COLUMNS = [
    "active_users",
    "product_score",
    "core_feature_usage",
    "stickiness",
    "active_user_coverage",
    "users_at_risk",
    "visits",
    "product_last_seen",
]


def _create(name: str, columns: str) -> str:
    return f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON health_accounthealth ({columns})"


def _drop(name: str) -> str:
    return f"DROP INDEX CONCURRENTLY IF EXISTS {name}"


OPERATIONS = [
    (
        f"explorer_{column}",
        f"product_id, as_of, {column} ASC NULLS FIRST, account_id",
    )
    for column in SORTED_COLUMNS
] + [
    (
        "explorer_health",
        "product_id, as_of, health, product_last_seen) INCLUDE (organization_id, account_id",
    )
]

# Search by name or id (Django's icontains is UPPER(col::text) LIKE UPPER(%s)): trigram
# indexes find the few matching accounts among 100,000 without reading them all. pg_trgm
# is not in every PostgreSQL (the embedded pgserver one lacks it): without it the search
# still works (ILIKE needs no index, it reads the accounts) and plain btree indexes on the
# upper-cased columns serve prefix searches (text_pattern_ops answers LIKE 'ABC%').
TRIGRAM = [
    ("explorer_account_name_trgm", "UPPER(name::text) gin_trgm_ops"),
    ("explorer_account_external_id_trgm", "UPPER(external_id::text) gin_trgm_ops"),
]
PREFIX = [
    ("explorer_account_name_upper", "UPPER(name::text) text_pattern_ops"),
    ("explorer_account_external_id_upper", "UPPER(external_id::text) text_pattern_ops"),
]


def _create_search_indexes(apps, schema_editor) -> None:
    """The trigram indexes when pg_trgm is available, else the prefix ones. Python, not
    a DO block: CREATE INDEX CONCURRENTLY cannot run inside a function."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        if cursor.fetchone():
            # pg_trgm is a trusted extension: the database owner may create it.
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            statements = [
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON ingestion_account"
                f" USING gin ({expression})"
                for name, expression in TRIGRAM
            ]
        else:
            statements = [
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON ingestion_account"
                f" ({expression})"
                for name, expression in PREFIX
            ]
        for statement in statements:
            cursor.execute(statement)


def _drop_search_indexes(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        for name, _ in TRIGRAM + PREFIX:
            cursor.execute(_drop(name))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("health", "0004_rollup_state"), ("ingestion", "0004_event_id_cache")]

    operations = [
        migrations.RunSQL(sql=_create(name, columns), reverse_sql=_drop(name))
        for name, columns in OPERATIONS
    ] + [migrations.RunPython(_create_search_indexes, _drop_search_indexes)]
