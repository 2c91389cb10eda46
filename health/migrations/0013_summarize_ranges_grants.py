"""vitals_summarize_event_ranges (0011) locked down as the other SECURITY DEFINER functions
are (tenancy/0004): EXECUTE revoked from PUBLIC and granted to `vitals_app` only, and the
temporary schema last in its search_path (unlisted, it is searched first for tables: a
session's temporary `pg_index` would have stood in for the catalogue's)."""

from django.db import migrations

SQL = """
ALTER FUNCTION vitals_summarize_event_ranges() SET search_path = pg_catalog, public, pg_temp;
REVOKE ALL ON FUNCTION vitals_summarize_event_ranges() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vitals_summarize_event_ranges() TO vitals_app;
"""

REVERSE = """
ALTER FUNCTION vitals_summarize_event_ranges() SET search_path = pg_catalog, public;
GRANT EXECUTE ON FUNCTION vitals_summarize_event_ranges() TO PUBLIC;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("health", "0012_pair_state_hot_updates"),
        ("tenancy", "0002_row_level_security"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
