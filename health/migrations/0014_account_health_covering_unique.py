"""The AccountHealth unique key carries the explorer's filter columns (INCLUDE), as its
sort indexes do (accounts_explorer/migrations/0002).

A search or a trait filter finds its accounts first and reads their rows of the day by
key (`account_id = ANY(...)`, accounts_explorer/filters.py): 16,666 matches for "acme"
at 100,000 accounts, each a probe of this index then of the table for the quick filter's
`health` and the last-seen filter's `product_last_seen`. With them in the index the
probes stay in it (docs/benchmarks.md, "UI"). The same index, wider: no more indexes for
the nightly write to keep.

Built CONCURRENTLY beside the old one, then swapped in as the constraint (a brief lock).
"""

from django.db import migrations, models

COLUMNS = "(product_id, as_of, account_id)"
INCLUDED = "INCLUDE (organization_id, health, product_last_seen)"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("health", "0013_summarize_ranges_grants")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS uniq_account_health_covering"
                    f" ON health_accounthealth {COLUMNS} {INCLUDED}",
                    # (Renamed uniq_account_health by the next step; gone once it is undone.)
                    "DROP INDEX CONCURRENTLY IF EXISTS uniq_account_health_covering",
                ),
                migrations.RunSQL(
                    "ALTER TABLE health_accounthealth DROP CONSTRAINT uniq_account_health,"
                    " ADD CONSTRAINT uniq_account_health UNIQUE USING INDEX"
                    " uniq_account_health_covering",
                    "ALTER TABLE health_accounthealth DROP CONSTRAINT uniq_account_health,"
                    f" ADD CONSTRAINT uniq_account_health UNIQUE {COLUMNS}",
                ),
            ],
            state_operations=[
                migrations.RemoveConstraint(model_name="accounthealth", name="uniq_account_health"),
                migrations.AddConstraint(
                    model_name="accounthealth",
                    constraint=models.UniqueConstraint(
                        fields=["product", "as_of", "account"],
                        include=["organization", "health", "product_last_seen"],
                        name="uniq_account_health",
                    ),
                ),
            ],
        )
    ]
