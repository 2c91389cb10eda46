"""health_pair_state loses its two partial indexes on the risk flags: a night updates tens
of thousands of pairs, and a column in an index predicate makes every such update a
non-HOT one (new entries in every index). Nothing reads through them: the portfolio's
distinct users at risk scan the product's pairs once either way."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("health", "0011_event_range_summaries")]

    operations = [
        migrations.RunSQL(
            "DROP INDEX IF EXISTS health_pair_state_risk; "
            "DROP INDEX IF EXISTS health_pair_state_risk_p;",
            "CREATE INDEX health_pair_state_risk ON health_pair_state (product_id, user_pk)"
            " WHERE risk_w; CREATE INDEX health_pair_state_risk_p ON health_pair_state"
            " (product_id, user_pk) WHERE risk_p;",
        )
    ]
