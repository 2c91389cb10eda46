"""The tenant policy reads its setting once per query, not once per row.

`current_setting()` is STABLE, not a constant: in a sequential or bitmap scan's filter the
policy of 0002 called it (and cast its text) for every row, which made a scan of the event
table about half again as dear as the owner's. As a scalar subquery it becomes an InitPlan:
evaluated once, its value a parameter that index conditions and filters compare against.
The meaning is unchanged (unset or empty: NULL, so the policy is false).
"""

from django.db import migrations

POLICY = "(SELECT nullif(current_setting(''vitals.organization_id'', true), '''')::bigint)"
POLICY_0002 = "nullif(current_setting(''vitals.organization_id'', true), '''')::bigint"


def _protect_function(expression: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION vitals_rls_protect(target regclass) RETURNS void
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', target);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', target);
    EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', target);
    EXECUTE format(
        'CREATE POLICY tenant_isolation ON %s FOR ALL TO PUBLIC'
        ' USING (organization_id = {expression})'
        ' WITH CHECK (organization_id = {expression})',
        target
    );
END;
$$;
REVOKE ALL ON FUNCTION vitals_rls_protect(regclass) FROM PUBLIC;

-- Every table that has the policy (partitions included) gets it again.
SELECT vitals_rls_protect(p.polrelid::regclass)
FROM pg_policy p
WHERE p.polname = 'tenant_isolation';
"""


class Migration(migrations.Migration):
    dependencies = [("tenancy", "0002_row_level_security")]

    operations = [
        migrations.RunSQL(_protect_function(POLICY), _protect_function(POLICY_0002)),
    ]
