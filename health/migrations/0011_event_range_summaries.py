"""Summaries of new event-time ranges for the BRIN indexes of the event partitions.

The nightly run reads a day of events through the BRIN index on event_time; ranges
filled since the last summary are unsummarized and always match, so without this a
night reads whole partitions. Autovacuum summarizes them eventually (and may be off);
the engine calls this before each run. SECURITY DEFINER: summarizing needs the indexes'
owner, the application role needs only EXECUTE.
"""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION vitals_summarize_event_ranges() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    index_oid oid;
    summarized integer := 0;
BEGIN
    FOR index_oid IN
        SELECT ix.indexrelid
        FROM pg_index ix
        JOIN pg_class c ON c.oid = ix.indexrelid AND c.relkind = 'i'
        JOIN pg_am am ON am.oid = c.relam AND am.amname = 'brin'
        JOIN pg_inherits inh ON inh.inhrelid = ix.indrelid
        WHERE inh.inhparent = 'public.ingestion_event'::regclass
    LOOP
        summarized := summarized + brin_summarize_new_values(index_oid::regclass);
    END LOOP;
    RETURN summarized;
END
$$;
"""

REVERSE = "DROP FUNCTION IF EXISTS vitals_summarize_event_ranges();"


class Migration(migrations.Migration):
    dependencies = [("health", "0010_usage_arrays"), ("ingestion", "0006_event_time_brin")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
