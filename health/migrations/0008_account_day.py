"""Per account and day, what the window day sums are made of (health/engine/state/days.py),
so a night reads the stored days leaving W and P instead of recounting them; and room
on each page of the state tables for in-place (HOT) updates, since a night rewrites a few
thousand of their rows. Plus the membership index the portfolio's user count reads."""

from django.db import migrations

SQL = """
CREATE TABLE health_account_day (
    organization_id bigint NOT NULL,
    product_id bigint NOT NULL,
    day date NOT NULL,
    account_pk bigint NOT NULL,
    dau integer NOT NULL,              -- users active that day
    wau integer NOT NULL,              -- users active on one of the 7 days ending that day
    visits integer NOT NULL,           -- sessions starting that day
    seconds double precision NOT NULL, -- their total duration
    PRIMARY KEY (product_id, day, account_pk)
);
ALTER TABLE health_pair_state SET (fillfactor = 70);
ALTER TABLE health_account_state SET (fillfactor = 70);
CREATE INDEX health_membership_org_user ON ingestion_accountmembership
    (organization_id, user_id, event_time);
"""

DROP = """
DROP INDEX IF EXISTS health_membership_org_user;
ALTER TABLE health_account_state RESET (fillfactor);
ALTER TABLE health_pair_state RESET (fillfactor);
DROP TABLE IF EXISTS health_account_day;
"""


class Migration(migrations.Migration):
    dependencies = [("health", "0007_engine_states"), ("ingestion", "0006_event_time_brin")]

    operations = [migrations.RunSQL(SQL, DROP)]
