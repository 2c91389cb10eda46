"""The one ingestion path: the HTTP API and file imports both end in `messages_ingest`.

Python validates each message (it has to parse it anyway); everything after that is
set-based SQL over a COPY-filled staging table, in one transaction per chunk:
dedup against the (product, messageId) ledger, upsert users/accounts/event keys, record
memberships and traits, insert events with their account attributed (SPEC section 3),
re-attribute older events a new `group` call changes, mark touched days, count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson
from django.db import connection, transaction

from ingestion.normalize import NormalizedMessage, NotANumber, Rejected, normalize
from vitals.tenancy.models import Product, WriteKey

SOURCE_API = "api"
SOURCE_FILE = "file"


@dataclass(slots=True)
class MessageOutcome:
    index: int  # position in the batch, or line number for files
    status: str  # "accepted", "duplicate" or "rejected"
    reason: str | None = None
    warning: str | None = None


@dataclass
class IngestResult:
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    outcomes: list[MessageOutcome] = field(default_factory=list)

    def merge(self, other: IngestResult) -> None:
        self.accepted += other.accepted
        self.duplicate += other.duplicate
        self.rejected += other.rejected
        self.outcomes.extend(other.outcomes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
            "results": [
                {
                    "index": o.index,
                    "status": o.status,
                    **({"reason": o.reason} if o.reason else {}),
                    **({"warning": o.warning} if o.warning else {}),
                }
                for o in self.outcomes
            ],
        }


@dataclass(slots=True)
class RawItem:
    """One message as it arrived: decoded JSON (or the decoding error) and its position."""

    index: int
    message: Any
    raw: bytes | None = None
    decode_error: str | None = None


def decode_lines(lines: Iterable[bytes], *, first_line: int = 1) -> Iterator[RawItem]:
    """JSONL: one RawItem per non-blank line, numbered from `first_line`."""
    for number, line in enumerate(lines, start=first_line):
        stripped = line.strip()
        if not stripped:
            continue
        try:
            yield RawItem(index=number, message=orjson.loads(stripped), raw=stripped)
        except orjson.JSONDecodeError as exc:
            yield RawItem(index=number, message=None, raw=stripped, decode_error=f"not JSON: {exc}")


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


@dataclass
class PreparedChunk:
    """A chunk validated in Python (no database): what `messages_store` writes."""

    received_at: datetime
    valid: list[tuple[int, NormalizedMessage]] = field(default_factory=list)
    rejected: list[tuple[int, str, str]] = field(default_factory=list)
    outcomes: list[MessageOutcome] = field(default_factory=list)


def messages_prepare(
    items: Iterable[RawItem], *, received_at: datetime, keep_own_received_at: bool = False
) -> PreparedChunk:
    """Validate a chunk; pure Python, so file imports run it ahead in another thread."""
    prepared = PreparedChunk(received_at=received_at)
    valid, rejected, outcomes = prepared.valid, prepared.rejected, prepared.outcomes
    seen_in_chunk: set[str] = set()
    for item in items:
        if item.decode_error is not None:
            rejected.append((item.index, item.decode_error, _payload_text(item)))
            outcomes.append(MessageOutcome(item.index, "rejected", item.decode_error))
            continue
        try:
            message = normalize(
                item.message,
                received_at=received_at,
                raw=item.raw,
                keep_own_received_at=keep_own_received_at,
            )
        except Rejected as exc:
            rejected.append((item.index, exc.reason, _payload_text(item)))
            outcomes.append(MessageOutcome(item.index, "rejected", exc.reason))
            continue
        if message.message_id in seen_in_chunk:
            # The first copy wins; later copies in the same chunk are duplicates.
            outcomes.append(MessageOutcome(item.index, "duplicate"))
            continue
        seen_in_chunk.add(message.message_id)
        valid.append((item.index, message))
    return prepared


def messages_ingest(
    *,
    product: Product,
    items: Iterable[RawItem],
    received_at: datetime,
    source: str,
    write_key: WriteKey | None = None,
    keep_own_received_at: bool = False,
) -> IngestResult:
    """Validate, dedup and store one chunk of messages in a single transaction."""
    prepared = messages_prepare(
        items, received_at=received_at, keep_own_received_at=keep_own_received_at
    )
    return messages_store(product=product, prepared=prepared, source=source, write_key=write_key)


def messages_store(
    *,
    product: Product,
    prepared: PreparedChunk,
    source: str,
    write_key: WriteKey | None = None,
) -> IngestResult:
    """Dedup and store a validated chunk in a single transaction."""
    received_at, valid, rejected = prepared.received_at, prepared.valid, prepared.rejected
    result = IngestResult(outcomes=list(prepared.outcomes))
    with transaction.atomic():
        fresh_ids = _store(product=product, messages=valid) if valid else set()
        _quarantine(
            product=product,
            write_key=write_key,
            received_at=received_at,
            source=source,
            rows=rejected,
        )
        for index, message in valid:
            if message.message_id in fresh_ids:
                result.outcomes.append(MessageOutcome(index, "accepted", warning=message.warning))
            else:
                result.outcomes.append(MessageOutcome(index, "duplicate"))
        result.outcomes.sort(key=lambda outcome: outcome.index)
        result.accepted = len(fresh_ids)
        result.rejected = len(rejected)
        result.duplicate = len(result.outcomes) - result.accepted - result.rejected
        _count(product=product, day=received_at.date(), result=result)
    return result


def _payload_text(item: RawItem) -> str:
    if item.raw is not None:
        return item.raw.decode("utf-8", errors="replace")
    try:
        return orjson.dumps(item.message).decode()
    except orjson.JSONEncodeError:
        pass
    # What orjson cannot write (see normalize.json_dumps), the stdlib can, mostly: lone
    # surrogates escaped, NaN as NaN; past its recursion limit the payload is not kept.
    try:
        return json.dumps(item.message, default=_number_of)
    except (RecursionError, ValueError, TypeError) as exc:
        return f"(payload not kept: {exc})"


def _number_of(value: Any) -> float:
    if isinstance(value, NotANumber):
        return float(value.text)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _quarantine(
    *,
    product: Product,
    write_key: WriteKey | None,
    received_at: datetime,
    source: str,
    rows: list[tuple[int, str, str]],
) -> None:
    if not rows:
        return
    # INSERT, not COPY: COPY FROM is refused on a table with row-level security.
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO ingestion_rejectedmessage (organization_id, product_id, write_key_id,"
            " received_at, source, line_number, reason, payload)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    product.organization_id,
                    product.pk,
                    write_key.pk if write_key else None,
                    received_at,
                    source,
                    index if source == "file" else None,
                    reason[:500],
                    payload.replace("\x00", ""),
                )
                for index, reason, payload in rows
            ],
        )


def _count(*, product: Product, day: date, result: IngestResult) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO ingestion_ingestcounter
                (organization_id, product_id, day, accepted, rejected, duplicate)
            VALUES (%s, %s, %s, %s, %s, %s)
            ON CONFLICT (product_id, day) DO UPDATE SET
                accepted = ingestion_ingestcounter.accepted + EXCLUDED.accepted,
                rejected = ingestion_ingestcounter.rejected + EXCLUDED.rejected,
                duplicate = ingestion_ingestcounter.duplicate + EXCLUDED.duplicate
            """,
            [
                product.organization_id,
                product.pk,
                day,
                result.accepted,
                result.rejected,
                result.duplicate,
            ],
        )


_event_id_sequence: str | None = None


def _event_id_default(cursor: Any) -> str:
    """The DEFAULT that numbers stage rows from the events' identity sequence."""
    global _event_id_sequence
    if _event_id_sequence is None:
        cursor.execute("SELECT pg_get_serial_sequence('ingestion_event', 'id')")
        _event_id_sequence = cursor.fetchone()[0]
    return "nextval('" + _event_id_sequence.replace("'", "''") + "'::regclass)"


def _store(*, product: Product, messages: list[tuple[int, NormalizedMessage]]) -> set[str]:
    """Stores the messages not seen before; returns their messageIds."""
    org_id, product_id = product.organization_id, product.pk
    timezone_name = product.organization.timezone
    types = {m.type_code for _, m in messages}
    with connection.cursor() as cursor:
        # Every statement below touches one chunk's rows through indexes, but the planner's
        # estimates for the correlated attribution subqueries run into the millions, which
        # triggers JIT compilation: about a second per statement, far more than the work.
        cursor.execute("SET LOCAL jit = off")
        id_default = _event_id_default(cursor)
        # ON COMMIT DROP cleans up normally; inside an outer transaction (tests, a caller's
        # atomic block) an earlier chunk's tables may still exist.
        # Event ids in arrival order (messages at the same instant are ordered by them):
        # COPY fills the rows in order, each taking the next value of the events' identity
        # sequence as its default.
        cursor.execute(
            f"""
            DROP TABLE IF EXISTS ingest_stage, ingest_reattributed;
            CREATE TEMP TABLE ingest_stage (
                seq int, message_id text, type smallint, event_time timestamptz,
                received_at timestamptz, user_ext text, anonymous_id text, group_ext text,
                ctx_group_ext text, event_kind text, event_name text, warning text,
                raw jsonb, id bigint DEFAULT {id_default}, user_pk bigint, group_pk bigint,
                ctx_pk bigint, event_key_id int
            ) ON COMMIT DROP;
            CREATE TEMP TABLE ingest_reattributed (product_id bigint, day date) ON COMMIT DROP
            """
        )
        with cursor.copy(f"COPY ingest_stage ({', '.join(_STAGE_COLUMNS)}) FROM STDIN") as copy:
            for seq, (_, m) in enumerate(messages):
                copy.write_row(
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
                        m.raw.decode("utf-8"),  # normalize took the NUL escapes out
                    )
                )

        # Dedup: the ledger insert is atomic under concurrency (first commit wins). The
        # stage keeps only the fresh messages.
        cursor.execute(
            """
            WITH fresh AS (
                INSERT INTO ingestion_seenmessage (organization_id, product_id, message_id)
                SELECT %s, %s, message_id FROM ingest_stage
                ON CONFLICT DO NOTHING
                RETURNING message_id
            ),
            seen_before AS (
                DELETE FROM ingest_stage s
                WHERE NOT EXISTS (SELECT 1 FROM fresh WHERE fresh.message_id = s.message_id)
            )
            SELECT message_id FROM fresh
            """,
            [org_id, product_id],
        )
        fresh_ids = {row[0] for row in cursor.fetchall()}
        if not fresh_ids:
            return fresh_ids
        # Autovacuum never analyzes temporary tables: without statistics the planner takes
        # the stage for a handful of rows and picks nested loops that rescan the people
        # and traits tables once per stage row (seconds per chunk once those tables grow).
        # One narrow column is enough to record the row count.
        cursor.execute("ANALYZE ingest_stage (type)")

        cursor.execute(
            "SELECT vitals_ensure_event_partition(m) FROM ("
            " SELECT DISTINCT date_trunc('month', event_time AT TIME ZONE 'UTC')::date AS m"
            " FROM ingest_stage) months"
        )
        _upsert_people(cursor, org_id=org_id, product_id=product_id, types=types)
        _insert_events(cursor, org_id=org_id, product_id=product_id)
        has_memberships = any(
            m.type_code in (4, 5) and m.user_id and m.group_id for _, m in messages
        )
        _reattribute(cursor, org_id=org_id, timezone_name=timezone_name, needed=has_memberships)
        _mark_touched_days(cursor, org_id=org_id, product_id=product_id, tz=timezone_name)
        _merge_traits(cursor, org_id=org_id, types=types)
    return fresh_ids


def _upsert_people(cursor: Any, *, org_id: int, product_id: int, types: set[int]) -> None:
    """Users, accounts and event keys named by the chunk, then their ids on the stage.

    Each upsert locks its rows (ON CONFLICT DO UPDATE locks even the rows it leaves alone)
    in ORDER BY order: concurrent chunks naming the same users or accounts then wait for
    each other instead of deadlocking, as they did in hash order (`make load`)."""
    cursor.execute(
        """
        INSERT INTO ingestion_enduser (organization_id, external_id, traits, first_seen_at)
        SELECT %s, user_ext, '{}'::jsonb, min(event_time)
        FROM ingest_stage WHERE user_ext IS NOT NULL GROUP BY user_ext ORDER BY user_ext
        ON CONFLICT (organization_id, external_id) DO UPDATE
            SET first_seen_at = EXCLUDED.first_seen_at
            WHERE EXCLUDED.first_seen_at < ingestion_enduser.first_seen_at
        """,
        [org_id],
    )
    cursor.execute(
        """
        INSERT INTO ingestion_account (organization_id, external_id, name, traits, first_seen_at)
        SELECT %s, ext, '', '{}'::jsonb, min(event_time)
        FROM (
            SELECT group_ext AS ext, event_time FROM ingest_stage WHERE group_ext IS NOT NULL
            UNION ALL
            SELECT ctx_group_ext, event_time FROM ingest_stage
            WHERE ctx_group_ext IS NOT NULL AND type IN (1, 2, 3)
        ) named
        GROUP BY ext ORDER BY ext
        ON CONFLICT (organization_id, external_id) DO UPDATE
            SET first_seen_at = EXCLUDED.first_seen_at
            WHERE EXCLUDED.first_seen_at < ingestion_account.first_seen_at
        """,
        [org_id],
    )
    if types & {1, 2, 3}:
        cursor.execute(
            """
            INSERT INTO ingestion_eventkey (organization_id, product_id, kind, name)
            SELECT DISTINCT %s, %s, event_kind, event_name
            FROM ingest_stage WHERE event_kind IS NOT NULL ORDER BY event_kind, event_name
            ON CONFLICT (product_id, kind, name) DO NOTHING
            """,
            [org_id, product_id],
        )
    cursor.execute(
        """
        UPDATE ingest_stage s SET
            user_pk = u.id,
            group_pk = g.id,
            ctx_pk = CASE WHEN s.type IN (1, 2, 3) THEN c.id END,
            event_key_id = k.id
        FROM ingest_stage s2
        LEFT JOIN ingestion_enduser u
            ON u.organization_id = %(org)s AND u.external_id = s2.user_ext
        LEFT JOIN ingestion_account g
            ON g.organization_id = %(org)s AND g.external_id = s2.group_ext
        LEFT JOIN ingestion_account c
            ON c.organization_id = %(org)s AND c.external_id = s2.ctx_group_ext
        LEFT JOIN ingestion_eventkey k
            ON k.product_id = %(product)s AND k.kind = s2.event_kind AND k.name = s2.event_name
        WHERE s.seq = s2.seq
        """,
        {"org": org_id, "product": product_id},
    )
    if not types & {4, 5}:
        return  # no memberships nor traits in this chunk
    cursor.execute(
        """
        INSERT INTO ingestion_accountmembership
            (organization_id, product_id, user_id, account_id, event_time, event_id)
        SELECT %s, %s, user_pk, group_pk, event_time, id
        FROM ingest_stage
        WHERE type IN (4, 5) AND user_pk IS NOT NULL AND group_pk IS NOT NULL
        """,
        [org_id, product_id],
    )
    cursor.execute(
        """
        INSERT INTO ingestion_traitschange
            (organization_id, subject, subject_pk, event_time, event_id, traits)
        SELECT %s, CASE WHEN type = 5 THEN 'account' ELSE 'user' END,
               CASE WHEN type = 5 THEN group_pk ELSE user_pk END,
               event_time, id, raw->'traits'
        FROM ingest_stage
        WHERE type IN (4, 5) AND jsonb_typeof(raw->'traits') = 'object'
          AND raw->'traits' <> '{}'::jsonb
          AND (CASE WHEN type = 5 THEN group_pk ELSE user_pk END) IS NOT NULL
        """,
        [org_id],
    )


# SPEC section 3: context.groupId, else the latest membership at or before t, else the
# earliest one after t, else no account. Shared by inserts and re-attribution.
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


def _insert_events(cursor: Any, *, org_id: int, product_id: int) -> None:
    attribution = _ATTRIBUTION.format(ctx="s.ctx_pk", user="s.user_pk", time="s.event_time")
    cursor.execute(
        f"""
        INSERT INTO ingestion_event (
            id, organization_id, product_id, event_time, received_at, type, message_id,
            user_pk, anonymous_id, account_pk, context_account_pk, event_key_id, warning, raw
        )
        SELECT
            s.id, %s, %s, s.event_time, s.received_at, s.type, s.message_id,
            s.user_pk, s.anonymous_id,
            CASE
                WHEN s.type IN (4, 5) THEN s.group_pk
                WHEN s.user_pk IS NULL THEN NULL
                ELSE {attribution}
            END,
            s.ctx_pk, s.event_key_id, s.warning, s.raw
        FROM ingest_stage s
        """,
        [org_id, product_id],
    )


def _reattribute(cursor: Any, *, org_id: int, timezone_name: str, needed: bool) -> None:
    """A membership that arrives late changes the account of that user's other events.

    Only events from the new membership's time on can change, or all of them when it is
    the user's earliest (rule 3). Every product of the organization is affected, since
    memberships are organization-wide. The days of changed events are kept in
    ingest_reattributed for the touched-day marks.
    """
    if not needed:
        return
    cursor.execute(
        """
        SELECT user_pk, CASE WHEN bool_and(has_older) THEN min(event_time) END
        FROM (
            SELECT s.user_pk, s.event_time, EXISTS (
                       SELECT 1 FROM ingestion_accountmembership older
                       WHERE older.user_id = s.user_pk
                         AND (older.event_time, older.event_id) < (s.event_time, s.id)
                   ) AS has_older
            FROM ingest_stage s
            WHERE s.type IN (4, 5) AND s.user_pk IS NOT NULL AND s.group_pk IS NOT NULL
        ) memberships
        GROUP BY user_pk
        """
    )
    # since is NULL when the membership is the user's earliest: all their events may change.
    changed = cursor.fetchall()
    if not changed:
        return
    attribution = _ATTRIBUTION.format(ctx="NULL", user="e.user_pk", time="e.event_time")
    # `user_pk = ANY(...)` with the users listed lets each partition use its user index.
    cursor.execute(
        f"""
        WITH changed_users AS (
            SELECT * FROM unnest(%(users)s::bigint[], %(since)s::timestamptz[])
                AS c(user_pk, since)
        ),
        updated AS (
            UPDATE ingestion_event e
            SET account_pk = {attribution}
            FROM changed_users c
            WHERE e.user_pk = ANY(%(users)s::bigint[])
              AND e.user_pk = c.user_pk
              AND e.event_time >= coalesce(c.since, '-infinity'::timestamptz)
              AND e.type IN (1, 2, 3) AND e.context_account_pk IS NULL
              AND e.organization_id = %(org)s
              AND e.account_pk IS DISTINCT FROM {attribution}
            RETURNING e.product_id, e.event_time
        )
        INSERT INTO ingest_reattributed
        SELECT DISTINCT product_id, (event_time AT TIME ZONE %(tz)s)::date FROM updated
        """,
        {
            "users": [user_pk for user_pk, _ in changed],
            "since": [since for _, since in changed],
            "org": org_id,
            "tz": timezone_name,
        },
    )


def _mark_touched_days(cursor: Any, *, org_id: int, product_id: int, tz: str) -> None:
    # DO UPDATE, not DO NOTHING: if a health run is deleting the mark right now, this
    # waits for it and then writes a fresh mark instead of trusting the dying one.
    cursor.execute(
        """
        INSERT INTO ingestion_touchedday (organization_id, product_id, day)
        SELECT %s, product_id, day FROM (
            SELECT %s::bigint AS product_id, (event_time AT TIME ZONE %s)::date AS day
            FROM ingest_stage WHERE type IN (1, 2, 3) AND user_pk IS NOT NULL
            UNION
            SELECT product_id, day FROM ingest_reattributed
        ) days
        ORDER BY product_id, day
        ON CONFLICT (product_id, day) DO UPDATE SET day = EXCLUDED.day
        """,
        [org_id, product_id, tz],
    )


def _merge_traits(cursor: Any, *, org_id: int, types: set[int]) -> None:
    """Recompute merged traits of the accounts and users this chunk sent traits for."""
    for subject, table in (("account", "ingestion_account"), ("user", "ingestion_enduser")):
        if (5 if subject == "account" else 4) not in types:
            continue
        name_column = (
            ", name = left(coalesce(merged.traits->>'name', ''), 512)"
            if (subject == "account")
            else ""
        )
        cursor.execute(
            f"""
            WITH touched AS (
                SELECT DISTINCT CASE WHEN type = 5 THEN group_pk ELSE user_pk END AS pk
                FROM ingest_stage
                WHERE type = %s AND jsonb_typeof(raw->'traits') = 'object'
            ),
            latest AS (
                SELECT DISTINCT ON (t.subject_pk, kv.key) t.subject_pk, kv.key, kv.value
                FROM ingestion_traitschange t
                CROSS JOIN LATERAL jsonb_each(t.traits) kv
                -- an array, so the (subject, subject_pk) index is used whatever the
                -- statistics say about the stage
                WHERE t.subject_pk = ANY (ARRAY(SELECT pk FROM touched))
                  AND t.organization_id = %s AND t.subject = %s
                ORDER BY t.subject_pk, kv.key, t.event_time DESC, t.event_id DESC
            ),
            merged AS (
                SELECT subject_pk, jsonb_object_agg(key, value) AS traits
                FROM latest GROUP BY subject_pk
            )
            UPDATE {table} target SET traits = merged.traits{name_column}
            FROM merged WHERE target.id = merged.subject_pk
            """,
            [5 if subject == "account" else 4, org_id, subject],
        )
