"""The rest of the Accounts table's sorts and filters from an index (`make bench-ui`).

health/migrations/0005 indexed the KPI columns shown by default. Here:

- every sortable AccountHealth column: (product_id, as_of, <column> NULLS FIRST,
  account_id), so a page of 50 in either direction is an index walk instead of a sort of
  the day's 100,000 rows, now with the filter columns included (INCLUDE) so that the walk,
  to page 1 or page 1,000, stays in the index (0005's indexes are rebuilt so);
- the account name and id, and the traits shown as columns that people sort by (plan,
  industry, employees, country, region, status, website): (organization_id, <key>
  NULLS FIRST, id) on ingestion_account. The table's join then walks the accounts in
  order and stops after a page. Rarer traits (city, street, the codes, inferred_*) and
  custom ones sort the day's rows: correct, slower (docs/benchmarks.md);
- the traits as a whole (GIN, jsonb_path_ops) for the trait equality filters, which
  test containment (`traits @> {"plan": "Pro"}`).

Raw SQL so the model state stays as it is; CONCURRENTLY so a live table is not locked.
"""

from django.db import migrations

# Indexed by health/migrations/0005 without the filter columns; rebuilt here with them.
INDEXED_COLUMNS = [
    "active_users",
    "product_score",
    "core_feature_usage",
    "stickiness",
    "active_user_coverage",
    "users_at_risk",
    "visits",
    "product_last_seen",
]
HEALTH_COLUMNS = [
    "avg_session_seconds",
    "avg_dau",
    "avg_wau",
    "users_lifetime",
    "visits_lifetime",
    "product_first_seen",
    "last_seen",
    "created_date",
]
SORTED_TRAITS = ["plan", "industry", "employees", "country", "region", "status", "website"]

# The tenant filter, the quick filter and the default last-seen filter ride along, so the
# sort's walk to a page (page 1 or page 1,000) never visits the table.
INCLUDED = "INCLUDE (organization_id, health, product_last_seen)"
HEALTH_INDEXES = [
    (
        f"explorer_{column}",
        f"health_accounthealth (product_id, as_of, {column} ASC NULLS FIRST, account_id)"
        f" {INCLUDED}",
    )
    for column in INDEXED_COLUMNS + HEALTH_COLUMNS
]
INDEXES = (
    HEALTH_INDEXES
    + [
        ("explorer_account_name", "ingestion_account (organization_id, name NULLS FIRST, id)"),
        (
            "explorer_account_external_id",
            "ingestion_account (organization_id, external_id NULLS FIRST, id)",
        ),
    ]
    + [
        (
            f"explorer_trait_{trait}",
            f"ingestion_account (organization_id, (traits -> '{trait}') NULLS FIRST, id)",
        )
        for trait in SORTED_TRAITS
    ]
    + [("explorer_account_traits", "ingestion_account USING gin (traits jsonb_path_ops)")]
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts_explorer", "0001_bookmark"),
        ("health", "0010_usage_arrays"),
        ("ingestion", "0006_event_time_brin"),
    ]

    operations = [
        migrations.RunSQL(
            sql=f"DROP INDEX CONCURRENTLY IF EXISTS explorer_{column}",
            reverse_sql=(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS explorer_{column} ON health_accounthealth"
                f" (product_id, as_of, {column} ASC NULLS FIRST, account_id)"
            ),
        )
        for column in INDEXED_COLUMNS
    ] + [
        migrations.RunSQL(
            sql=f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {definition}",
            reverse_sql=f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
        )
        for name, definition in INDEXES
    ]
