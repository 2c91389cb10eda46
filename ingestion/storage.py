"""The SQL half of ingestion: one validated chunk into the tables, set-based.

The chunk is COPYed (binary) into a temporary stage; every statement after that reads the
stage as a whole: dedup against the (product, messageId) ledger, users, accounts and event
keys upserted from the chunk's distinct names, memberships and traits recorded, events
inserted with their account attributed (SPEC section 3), older events a late membership
changes re-attributed, touched days marked, traits merged. The caller owns the
transaction.

The temporary tables live as long as the database session (ON COMMIT DELETE ROWS), so a
chunk costs no catalog writes; the HTTP API stores one per request. Each chunk creates them
if missing (a transaction-mode pooler may hand it another server session).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from datetime import date
from typing import Any

from django.db import IntegrityError, connection, transaction
from psycopg import pq
from psycopg.adapt import Dumper
from psycopg.errors import UniqueViolation

from ingestion.normalize import NormalizedMessage

JSONB_OID = 3802


class RawJson(bytes):
    """A message's JSON text as received, sent to a jsonb column without re-encoding."""


class _RawJsonBinaryDumper(Dumper):
    """Registered for the jsonb oid, so the stage COPY (typed with `set_types`) passes
    each message's bytes through it as they are."""

    format = pq.Format.BINARY
    oid = JSONB_OID

    def dump(self, obj: bytes) -> bytes:
        # jsonb's binary format is a version byte then the text (normalize() has already
        # dropped the \u0000 escapes PostgreSQL text cannot hold).
        return b"\x01" + obj


_STAGE_COLUMNS = (
    "seq",
    "message_id",
    "type",
    "event_time",
    "received_at",
    "user_ext",
    "anonymous_id",
    "group_ext",
    "ctx_group_ext",
    "event_kind",
    "event_name",
    "warning",
    "raw",
)
_STAGE_TYPES = (
    "int4",
    "text",
    "int2",
    "timestamptz",
    "timestamptz",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "jsonb",
)
# From this many messages a chunk's names are analyzed (see _names_sql).
ANALYZE_FROM_ROWS = 2000

_event_id_sequence: str | None = None


def _event_id_default(cursor: Any) -> str:
    """The DEFAULT that numbers stage rows from the events' identity sequence."""
    global _event_id_sequence
    if _event_id_sequence is None:
        cursor.execute("SELECT pg_get_serial_sequence('ingestion_event', 'id')")
        _event_id_sequence = cursor.fetchone()[0]
    return "nextval('" + _event_id_sequence.replace("'", "''") + "'::regclass)"


# A file chunk's stage (about 8 MB for 20,000 messages) and its small tables stay in
# memory: with the default 8 MB every statement reading the stage read it back from files.
# Settable only before a session's first temporary table.
TEMP_BUFFERS = "48MB"


def _stage_setup_sql(id_default: str) -> str:
    # Event ids in arrival order (messages at the same instant are ordered by them): COPY
    # fills the stage in order, each row taking the next value of the events' sequence.
    # ingest_user/account/key hold the chunk's distinct names, their first event time and,
    # once upserted, their ids: the big statements join the stage to these small tables.
    return f"""
    CREATE TEMP TABLE IF NOT EXISTS ingest_stage (
        seq int, message_id text, type smallint, event_time timestamptz,
        received_at timestamptz, user_ext text, anonymous_id text, group_ext text,
        ctx_group_ext text, event_kind text, event_name text, warning text, raw jsonb,
        id bigint DEFAULT {id_default}
    ) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS ingest_user (
        ext text, first_at timestamptz, pk bigint, known_first timestamptz
    ) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS ingest_account (
        ext text, first_at timestamptz, pk bigint, known_first timestamptz
    ) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS ingest_key (kind text, name text, pk int)
        ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS ingest_reattributed (product_id bigint, day date)
        ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS ingest_identity (
        type smallint, user_pk bigint, account_pk bigint, event_time timestamptz, id bigint,
        traits jsonb
    ) ON COMMIT DELETE ROWS;
    """


_TEMP_BUFFERS_SQL = f"""
    DO $$ BEGIN
        PERFORM set_config('temp_buffers', '{TEMP_BUFFERS}', false);
    EXCEPTION WHEN others THEN
        NULL;  -- the session has used temporary tables already: keep its setting
    END $$;
"""

_TEMP_TABLES = (
    "ingest_stage, ingest_user, ingest_account, ingest_key, ingest_reattributed, ingest_identity"
)
# Database sessions (psycopg connections) that have set temp_buffers (possible only before
# their first temporary table).
_sessions_with_temp_buffers: weakref.WeakSet[Any] = weakref.WeakSet()


def _has_temp_buffers() -> bool:
    return connection.connection in _sessions_with_temp_buffers


def _note_temp_buffers() -> None:
    if connection.connection is not None:
        _sessions_with_temp_buffers.add(connection.connection)


def chunk_store(
    *,
    org_id: int,
    product_id: int,
    timezone_name: str,
    messages: Sequence[tuple[int, NormalizedMessage]],
    months: set[date],
    types: set[int],
    nested: bool,
    counter: tuple[date, int, int],
) -> set[int]:
    """Stores the messages not seen before; returns the positions (in `messages`) of the
    duplicates. `nested`: an outer transaction may hold an earlier chunk's stage rows.
    `counter`: the receive day, messages rejected and duplicates found in the chunk before
    storage, counted with the accepted ones and the duplicates found here.

    Round trips are what a small chunk (an API batch) costs, so after the COPY everything
    is one string of statements; only a chunk holding known ids takes a second one.
    """
    params = {
        "org": org_id,
        "product": product_id,
        "tz": timezone_name,
        "months": sorted(months),
        "day": counter[0],
        "rejected": counter[1],
    }
    with connection.cursor() as cursor:
        # The tables are created if missing before every chunk, not once per connection:
        # behind a transaction-mode pooler the next transaction may run on another
        # server session. IF NOT EXISTS costs a catalog lookup, no catalog write.
        cursor.execute(
            ("" if _has_temp_buffers() else _TEMP_BUFFERS_SQL)
            + _stage_setup_sql(_event_id_default(cursor))
            + (f"TRUNCATE {_TEMP_TABLES};" if nested else "")
        )
        if not nested:
            transaction.on_commit(_note_temp_buffers)
        cursor.adapters.register_dumper(RawJson, _RawJsonBinaryDumper)
        with cursor.copy(
            f"COPY ingest_stage ({', '.join(_STAGE_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(_STAGE_TYPES)
            write_row = copy.write_row
            for seq, (_, m) in enumerate(messages):
                write_row(
                    (
                        seq,
                        m.message_id,
                        m.type_code,
                        m.event_time,
                        m.received_at,
                        m.user_id,
                        m.anonymous_id,
                        m.group_id,
                        m.context_group_id,
                        m.event_kind,
                        m.event_name,
                        m.warning,
                        m.raw,
                    )
                )

        # Dedup: the (product, messageId) ledger takes the chunk's ids, atomically under
        # concurrency: the first transaction to commit an id wins, the others wait for it
        # and then see the conflict. Usually no id is known yet, so a plain INSERT tries
        # first (half the work of ON CONFLICT) and the rest follows in the same string.
        # Ids go in sorted, so chunks sharing ids wait for each other in one order, never
        # in a cycle.
        fresh = len(messages)
        try:
            cursor.execute(
                "SAVEPOINT ingest_ledger;"
                " INSERT INTO ingestion_seenmessage (organization_id, product_id, message_id)"
                " SELECT %(org)s, %(product)s, message_id FROM ingest_stage"
                " ORDER BY message_id;"
                " RELEASE SAVEPOINT ingest_ledger;"
                + _after_dedup_sql(types=types, analyze=fresh >= ANALYZE_FROM_ROWS),
                {**params, "accepted": fresh, "duplicate": counter[2]},
            )
            return set()
        except IntegrityError as exc:
            cause = exc.__cause__
            if not (
                isinstance(cause, UniqueViolation)
                and cause.diag.constraint_name == "ingestion_seenmessage_pkey"
            ):
                raise
        # Some ids were known: ON CONFLICT sorts the chunk out, the known ones leave the
        # stage.
        cursor.execute("ROLLBACK TO SAVEPOINT ingest_ledger")
        cursor.execute(
            """
            WITH fresh AS (
                INSERT INTO ingestion_seenmessage (organization_id, product_id, message_id)
                SELECT %(org)s, %(product)s, message_id FROM ingest_stage ORDER BY message_id
                ON CONFLICT DO NOTHING
                RETURNING message_id
            ),
            seen_before AS (
                DELETE FROM ingest_stage s
                WHERE NOT EXISTS (SELECT 1 FROM fresh WHERE fresh.message_id = s.message_id)
                RETURNING s.seq
            )
            SELECT seq FROM seen_before
            """,
            params,
        )
        duplicates = {row[0] for row in cursor.fetchall()}
        fresh -= len(duplicates)
        counts = {"accepted": fresh, "duplicate": counter[2] + len(duplicates)}
        if not fresh:
            cursor.execute(_COUNTER_SQL, {**params, **counts})
            return duplicates
        types = {m.type_code for seq, (_, m) in enumerate(messages) if seq not in duplicates}
        cursor.execute(
            _after_dedup_sql(types=types, analyze=fresh >= ANALYZE_FROM_ROWS), {**params, **counts}
        )
    return duplicates


def _after_dedup_sql(*, types: set[int], analyze: bool) -> str:
    """Every statement after the dedup, in order, as one string."""
    identities = bool(types & {4, 5})
    return "".join(
        (
            # JIT compiles for the planner's row estimates, about a second per statement,
            # far more than the work of one chunk.
            "SET LOCAL jit = off;",
            "SELECT vitals_ensure_event_partition(m) FROM unnest(%(months)s::date[]) m;",
            _names_sql(types=types, analyze=analyze),
            _MEMBERSHIPS_SQL if identities else "",
            _events_sql(),
            _REATTRIBUTE_SQL if identities else "",
            _TOUCHED_DAYS_SQL,
            _traits_merge_sql(types=types),
            _COUNTER_SQL,
        )
    )


_COUNTER_SQL = """
    INSERT INTO ingestion_ingestcounter
        (organization_id, product_id, day, accepted, rejected, duplicate)
    VALUES (%(org)s, %(product)s, %(day)s, %(accepted)s, %(rejected)s, %(duplicate)s)
    ON CONFLICT (product_id, day) DO UPDATE SET
        accepted = ingestion_ingestcounter.accepted + EXCLUDED.accepted,
        rejected = ingestion_ingestcounter.rejected + EXCLUDED.rejected,
        duplicate = ingestion_ingestcounter.duplicate + EXCLUDED.duplicate;
"""


def _names_sql(*, types: set[int], analyze: bool) -> str:
    """Users, accounts and event keys the chunk names: their ids noted in
    ingest_user/account/key, the new ones created, first-seen times moved earlier when
    the chunk saw a name earlier.

    Known names are looked up, not upserted: ON CONFLICT would lock every known row until
    commit and make concurrent chunks naming the same users wait for each other. New
    names are inserted in sorted order, so two chunks creating the same names lock them
    in the same order.
    """
    return (
        """
        INSERT INTO ingest_user (ext, first_at)
        SELECT user_ext, min(event_time) FROM ingest_stage
        WHERE user_ext IS NOT NULL GROUP BY user_ext;
        INSERT INTO ingest_account (ext, first_at)
        SELECT ext, min(event_time) FROM (
            SELECT group_ext AS ext, event_time FROM ingest_stage WHERE group_ext IS NOT NULL
            UNION ALL
            SELECT ctx_group_ext, event_time FROM ingest_stage
            WHERE ctx_group_ext IS NOT NULL AND type IN (1, 2, 3)
        ) named
        GROUP BY ext;
        INSERT INTO ingest_key (kind, name)
        SELECT DISTINCT event_kind, event_name FROM ingest_stage WHERE event_kind IS NOT NULL;
        """
        + (
            # Sized right, the planner hashes these small tables to join the stage. An API
            # batch is too small for the choice to matter, and ANALYZE costs a few ms.
            "ANALYZE ingest_user, ingest_account, ingest_key;" if analyze else ""
        )
        + _NAMES_SQL.format(
            names="ingest_user",
            table="ingestion_enduser",
            columns="organization_id, external_id, traits, first_seen_at",
            values="%(org)s, ext, '{}'::jsonb, first_at",
            ext_column="user_ext",
            traits_type=4,  # identify: the user's traits
        )
        + _NAMES_SQL.format(
            names="ingest_account",
            table="ingestion_account",
            columns="organization_id, external_id, name, traits, first_seen_at",
            values="%(org)s, ext, '', '{}'::jsonb, first_at",
            ext_column="group_ext",
            traits_type=5,  # group: the account's traits
        )
        + (_KEYS_SQL if types & {1, 2, 3} else "")
    )


_KEYS_SQL = """
            UPDATE ingest_key n SET pk = (
                SELECT k.id FROM ingestion_eventkey k
                WHERE k.product_id = (SELECT %(product)s::bigint)
                  AND k.kind = n.kind AND k.name = n.name
            );
            WITH created AS (
                INSERT INTO ingestion_eventkey (organization_id, product_id, kind, name)
                SELECT %(org)s, %(product)s, kind, name FROM ingest_key
                WHERE pk IS NULL ORDER BY kind, name
                ON CONFLICT (product_id, kind, name) DO NOTHING
                RETURNING id, kind, name
            )
            UPDATE ingest_key n SET pk = c.id
            FROM created c WHERE n.kind = c.kind AND n.name = c.name;
            UPDATE ingest_key n SET pk = (
                SELECT k.id FROM ingestion_eventkey k
                WHERE k.product_id = (SELECT %(product)s::bigint)
                  AND k.kind = n.kind AND k.name = n.name
            )
            WHERE n.pk IS NULL;
"""


# Users and accounts by external id, organization-wide. `known_first` is the stored
# first-seen time of a name that existed. The third statement catches names another
# transaction created meanwhile (the insert waited for it, then skipped them). Each name
# is one probe of the unique (organization, external id) index. The organization goes in
# as a subquery so the planner does not read its statistics: stale ones (taken while the
# organization was small) made it pick the organization-only index and read every user
# of the organization for each name (0.75 s for 3,000 names of a 5,000-user one).
_NAMES_SQL = """
    UPDATE {names} n SET (pk, known_first) = (
        SELECT t.id, t.first_seen_at FROM {table} t
        WHERE t.organization_id = (SELECT %(org)s::bigint) AND t.external_id = n.ext
    );
    WITH created AS (
        INSERT INTO {table} ({columns})
        SELECT {values} FROM {names} WHERE pk IS NULL ORDER BY ext
        ON CONFLICT (organization_id, external_id) DO NOTHING
        RETURNING id, external_id
    )
    UPDATE {names} n SET pk = c.id FROM created c WHERE n.ext = c.external_id;
    UPDATE {names} n SET (pk, known_first) = (
        SELECT t.id, t.first_seen_at FROM {table} t
        WHERE t.organization_id = (SELECT %(org)s::bigint) AND t.external_id = n.ext
    )
    WHERE n.pk IS NULL;
    -- rows locked in id order first, those whose traits the chunk merges later too:
    -- concurrent chunks moving the same people's first times or traits then wait for each
    -- other instead of deadlocking (two lock passes, each in id order, can still cross)
    UPDATE {table} t SET first_seen_at = n.first_at
    FROM {names} n
    WHERE t.id = ANY (ARRAY(
            SELECT id FROM {table}
            WHERE id = ANY (ARRAY(
                SELECT pk FROM {names} WHERE first_at < known_first
                UNION
                SELECT named.pk FROM {names} named
                JOIN ingest_stage s ON s.{ext_column} = named.ext
                WHERE s.type = {traits_type}))
            ORDER BY id FOR NO KEY UPDATE))
      AND t.id = n.pk AND n.first_at < t.first_seen_at;
"""


# `group` calls (and `identify` with traits.accountId) into the membership history;
# traits of identify and group calls into the traits changes. An identify without traits
# of its own takes `context.traits` (RudderStack's SDKs; normalize.identify_context_traits).
# The chunk's identify and group calls (a few percent of it) are copied to ingest_identity
# first, so the statements about them do not each read the stage.
_MEMBERSHIPS_SQL = """
        INSERT INTO ingest_identity (type, user_pk, account_pk, event_time, id, traits)
        SELECT s.type, u.pk, a.pk, s.event_time, s.id,
               CASE WHEN s.type = 4 AND coalesce(s.raw->'traits', '{}'::jsonb)
                                        IN ('{}'::jsonb, 'null'::jsonb)
                         AND jsonb_typeof(s.raw->'context'->'traits') = 'object'
                    THEN s.raw->'context'->'traits' ELSE s.raw->'traits' END
        FROM ingest_stage s
        LEFT JOIN ingest_user u ON u.ext = s.user_ext
        LEFT JOIN ingest_account a ON a.ext = s.group_ext
        WHERE s.type IN (4, 5);

        INSERT INTO ingestion_accountmembership
            (organization_id, product_id, user_id, account_id, event_time, event_id)
        SELECT %(org)s, %(product)s, user_pk, account_pk, event_time, id
        FROM ingest_identity
        WHERE user_pk IS NOT NULL AND account_pk IS NOT NULL;

        INSERT INTO ingestion_traitschange
            (organization_id, subject, subject_pk, event_time, event_id, traits)
        SELECT %(org)s, CASE WHEN type = 5 THEN 'account' ELSE 'user' END,
               CASE WHEN type = 5 THEN account_pk ELSE user_pk END, event_time, id, traits
        FROM ingest_identity
        WHERE jsonb_typeof(traits) = 'object' AND traits <> '{}'::jsonb
          AND (CASE WHEN type = 5 THEN account_pk ELSE user_pk END) IS NOT NULL;
"""


# SPEC section 3: context.groupId, else the latest membership at or before t, else the
# earliest one after t, else no account. A user's memberships in (time, id) order cut
# time into spans, each membership in effect from its own time until the next one's; the
# first span reaches back to -infinity (the "earliest one after t" rule). Exactly one span
# holds any t, and a membership followed by another at the same instant holds none.
MEMBERSHIP_SPANS = """
    SELECT m.user_id, m.account_id,
           CASE WHEN row_number() OVER w = 1 THEN '-infinity'::timestamptz
                ELSE m.event_time END AS span_from,
           coalesce(lead(m.event_time) OVER w, 'infinity'::timestamptz) AS span_to
    FROM ingestion_accountmembership m
    WHERE m.user_id = ANY ({users})
    WINDOW w AS (PARTITION BY m.user_id ORDER BY m.event_time, m.event_id)
"""


def _events_sql() -> str:
    spans = MEMBERSHIP_SPANS.format(users="ARRAY(SELECT pk FROM ingest_user)")
    return f"""
        WITH spans AS MATERIALIZED ({spans})
        INSERT INTO ingestion_event (
            id, organization_id, product_id, event_time, received_at, type, message_id,
            user_pk, anonymous_id, account_pk, context_account_pk, event_key_id, warning, raw
        )
        SELECT
            s.id, %(org)s, %(product)s, s.event_time, s.received_at, s.type, s.message_id,
            u.pk, s.anonymous_id,
            CASE
                WHEN s.type IN (4, 5) THEN g.pk
                WHEN u.pk IS NULL THEN NULL
                ELSE coalesce(c.pk, span.account_id)
            END,
            c.pk, k.pk, s.warning, s.raw
        FROM ingest_stage s
        LEFT JOIN ingest_user u ON u.ext = s.user_ext
        LEFT JOIN ingest_account g ON g.ext = s.group_ext
        LEFT JOIN ingest_account c ON c.ext = s.ctx_group_ext AND s.type IN (1, 2, 3)
        LEFT JOIN ingest_key k ON k.kind = s.event_kind AND k.name = s.event_name
        LEFT JOIN spans span
            ON span.user_id = u.pk AND s.type IN (1, 2, 3) AND s.ctx_group_ext IS NULL
           AND s.event_time >= span.span_from AND s.event_time < span.span_to;
    """


# The same rule one event at a time, for re-attribution (a few users' events, each found
# through the (user, time) index of the memberships).
_ATTRIBUTION = """
    COALESCE(
        {ctx},
        (SELECT m.account_id FROM ingestion_accountmembership m
         WHERE m.user_id = {user} AND m.event_time <= {time}
         ORDER BY m.event_time DESC, m.event_id DESC LIMIT 1),
        (SELECT m.account_id FROM ingestion_accountmembership m
         WHERE m.user_id = {user} AND m.event_time > {time}
         ORDER BY m.event_time ASC, m.event_id ASC LIMIT 1)
    )
"""

# A membership that arrives late changes the account of that user's other events. Only
# events from the new membership's time on can change, or all of them when it is the
# user's earliest (rule 3; `since` is NULL then). Every product of the organization is
# affected, since memberships are organization-wide. The days of changed events are kept
# in ingest_reattributed for the touched-day marks. `user_pk = ANY(...)` lets each
# partition use its user index.
_REATTRIBUTE_SQL = """
    WITH changed_users AS MATERIALIZED (
        SELECT user_pk, CASE WHEN bool_and(has_older) THEN min(event_time) END AS since
        FROM (
            SELECT i.user_pk, i.event_time, EXISTS (
                       SELECT 1 FROM ingestion_accountmembership older
                       WHERE older.user_id = i.user_pk
                         AND (older.event_time, older.event_id) < (i.event_time, i.id)
                   ) AS has_older
            FROM ingest_identity i
            WHERE i.user_pk IS NOT NULL AND i.account_pk IS NOT NULL
        ) memberships
        GROUP BY user_pk
    ),
    updated AS (
        UPDATE ingestion_event e
        SET account_pk = {attribution}
        FROM changed_users c
        WHERE e.user_pk = ANY (ARRAY(SELECT user_pk FROM changed_users))
          AND e.user_pk = c.user_pk
          AND e.event_time >= coalesce(c.since, '-infinity'::timestamptz)
          AND e.type IN (1, 2, 3) AND e.context_account_pk IS NULL
          AND e.organization_id = %(org)s
          AND e.account_pk IS DISTINCT FROM {attribution}
        RETURNING e.product_id, e.event_time
    )
    INSERT INTO ingest_reattributed
    SELECT DISTINCT product_id, (event_time AT TIME ZONE %(tz)s)::date FROM updated;
""".format(attribution=_ATTRIBUTION.format(ctx="NULL", user="e.user_pk", time="e.event_time"))

# DO UPDATE, not DO NOTHING: if a health run is deleting the mark right now, this waits
# for it and then writes a fresh mark instead of trusting the dying one. Days in order, so
# concurrent chunks lock them in one order.
_TOUCHED_DAYS_SQL = """
    INSERT INTO ingestion_touchedday (organization_id, product_id, day)
    SELECT %(org)s, product_id, day FROM (
        SELECT %(product)s::bigint AS product_id, (event_time AT TIME ZONE %(tz)s)::date AS day
        FROM ingest_stage WHERE type IN (1, 2, 3) AND user_ext IS NOT NULL
        UNION
        SELECT product_id, day FROM ingest_reattributed
    ) days
    ORDER BY product_id, day
    ON CONFLICT (product_id, day) DO UPDATE SET day = EXCLUDED.day;
"""


def _traits_merge_sql(*, types: set[int]) -> str:
    """Recompute merged traits of the accounts and users this chunk sent traits for."""
    statements = []
    for subject, table, type_code in (
        ("account", "ingestion_account", 5),
        ("user", "ingestion_enduser", 4),
    ):
        if type_code not in types:
            continue
        name_column = (
            ", name = left(coalesce(merged.traits->>'name', ''), 512)"
            if subject == "account"
            else ""
        )
        pk_column = "account_pk" if subject == "account" else "user_pk"
        statements.append(
            f"""
            WITH touched AS (
                SELECT DISTINCT {pk_column} AS pk FROM ingest_identity
                WHERE type = {type_code} AND jsonb_typeof(traits) = 'object'
                  AND {pk_column} IS NOT NULL
            ),
            latest AS (
                SELECT DISTINCT ON (t.subject_pk, kv.key) t.subject_pk, kv.key, kv.value
                FROM ingestion_traitschange t
                CROSS JOIN LATERAL jsonb_each(t.traits) kv
                -- an array, so the (subject, subject_pk) index is used whatever the
                -- statistics say about the stage
                WHERE t.subject_pk = ANY (ARRAY(SELECT pk FROM touched))
                  AND t.organization_id = %(org)s AND t.subject = '{subject}'
                ORDER BY t.subject_pk, kv.key, t.event_time DESC, t.event_id DESC
            ),
            merged AS (
                SELECT subject_pk, jsonb_object_agg(key, value) AS traits
                FROM latest GROUP BY subject_pk
            ),
            -- rows locked in id order: concurrent chunks never wait for each other in a cycle
            locked AS (
                SELECT id FROM {table}
                WHERE id = ANY (ARRAY(SELECT pk FROM touched)) ORDER BY id FOR NO KEY UPDATE
            )
            UPDATE {table} target SET traits = merged.traits{name_column}
            FROM merged JOIN locked ON locked.id = merged.subject_pk
            WHERE target.id = merged.subject_pk;
            """
        )
    return "".join(statements)
