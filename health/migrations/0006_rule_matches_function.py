"""The one definition of SPEC 2's feature matching, shared by the engine, the rule preview
and the user page: an event key (kind, name) matches a rule {"event": name} exactly, or a
rule {"page": glob} by its path ('*' = any run of characters, '/' included).

A single-expression SQL function: PostgreSQL inlines it, so callers plan as before."""

from django.db import migrations

SQL = r"""
CREATE FUNCTION vitals_rule_matches(kind text, name text, rule jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT (kind = 'event' AND rule->>'event' = name)
        OR (kind = 'page' AND rule ? 'page'
            AND name LIKE vitals_glob_to_like(rule->>'page') ESCAPE '\')
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("health", "0005_explorer_indexes")]

    operations = [
        migrations.RunSQL(SQL, "DROP FUNCTION IF EXISTS vitals_rule_matches(text, text, jsonb)")
    ]
