"""CSV, Parquet and warehouse-shaped JSONL go through the same validation, dedup and
storage as Segment JSONL, and store the same events."""

from __future__ import annotations

import csv
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from django.core.management import call_command
from django.db import connection

from ingestion.file_import import file_ingest
from ingestion.tabular import ConversionError, to_segment_message
from vitals.tenancy.models import Product
from vitals.tenancy.scope import tenant_scope
from vitals.tenancy.services import organization_create, product_create

CONFORMANCE = Path("/work/shared/conformance/basic/events.jsonl")

MESSAGES: list[dict[str, Any]] = [
    {
        "type": "group",
        "userId": "admin_1",
        "groupId": "acc_1",
        "traits": {"name": "Acme 1", "plan": "Pro", "employees": 80, "createdAt": "2025-01-02"},
        "timestamp": "2026-03-01T09:00:00.000Z",
        "messageId": "g-1",
    },
    {
        "type": "identify",
        "userId": "u_1",
        "traits": {"email": "u_1@acme.test", "accountId": "acc_1"},
        "timestamp": "2026-03-01T09:05:00.000Z",
        "messageId": "i-1",
    },
    {
        "type": "track",
        "userId": "u_1",
        "event": "Report Exported",
        "properties": {"source": "web", "rows": 12, "scheduled": False},
        "timestamp": "2026-03-02T10:00:00.000Z",
        "messageId": "t-1",
    },
    {
        "type": "page",
        "userId": "u_1",
        "name": "Reports",
        "properties": {"path": "/reports/7"},
        "context": {"groupId": "acc_2"},
        "timestamp": "2026-03-02T10:01:00.000Z",
        "messageId": "p-1",
    },
    {
        "type": "screen",
        "userId": "u_1",
        "name": "Settings",
        "context": {"page": {"path": "/settings/profile"}},
        "timestamp": "2026-03-02T10:02:00.000Z",
        "messageId": "s-1",
    },
    {
        "type": "page",
        "anonymousId": "anon_1",
        "properties": {"url": "https://app.example.com/pricing?x=1"},
        "timestamp": "2026-03-02T10:03:00.000Z",
        "messageId": "p-2",
    },
    {
        "type": "track",
        "userId": "u_1",
        "event": "Searched",
        "originalTimestamp": "2026-03-03T12:00:00.000Z",
        "sentAt": "2026-03-03T12:00:05.000Z",
        "receivedAt": "2026-03-03T11:00:00.000Z",
        "messageId": "t-2",
    },
]


def flatten(message: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A message as dotted columns: {"properties": {"path": x}} -> {"properties.path": x}."""
    flat: dict[str, Any] = {}
    for key, value in message.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def write_jsonl(path: Path, messages: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(message) + "\n" for message in messages))
    return path


def write_csv(path: Path, messages: list[dict[str, Any]]) -> Path:
    rows = [flatten(message) for message in messages]
    columns = sorted({column for row in rows for column in row})
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: v if isinstance(v, str) else json.dumps(v) for k, v in row.items()})
    return path


def write_parquet(path: Path, messages: list[dict[str, Any]]) -> Path:
    # convert_dtypes: integer columns with gaps stay integers (Int64), as in a warehouse
    pd.DataFrame([flatten(message) for message in messages]).convert_dtypes().to_parquet(path)
    return path


def ingest(path: Path, *options: str, org: str = "acme") -> str:
    out = StringIO()
    args = (str(path), "--org", org, "--product", "app", "--no-progress", *options)
    call_command("ingest_events", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def stored(product: Product) -> list[tuple]:
    """The stored events as comparable data: external ids, not primary keys."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT e.message_id, e.type, e.event_time, u.external_id,
                   e.anonymous_id, a.external_id, c.external_id, k.kind, k.name, e.raw
            FROM ingestion_event e
            LEFT JOIN ingestion_enduser u ON u.id = e.user_pk
            LEFT JOIN ingestion_account a ON a.id = e.account_pk
            LEFT JOIN ingestion_account c ON c.id = e.context_account_pk
            LEFT JOIN ingestion_eventkey k ON k.id = e.event_key_id
            WHERE e.product_id = %s ORDER BY e.message_id
            """,
            [product.pk],
        )
        return [(*row[:-1], json.loads(row[-1])) for row in cursor.fetchall()]


def received_at(product: Product, message_id: str) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT received_at FROM ingestion_event WHERE product_id = %s AND message_id = %s",
            [product.pk, message_id],
        )
        return cursor.fetchone()[0]


def account_traits(org_slug: str) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.external_id, a.traits FROM ingestion_account a
            JOIN tenancy_organization o ON o.id = a.organization_id
            WHERE o.slug = %s ORDER BY 1
            """,
            [org_slug],
        )
        return {external_id: json.loads(traits) for external_id, traits in cursor.fetchall()}


def quarantine(product: Product) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT line_number, reason FROM ingestion_rejectedmessage"
            " WHERE product_id = %s ORDER BY line_number",
            [product.pk],
        )
        return cursor.fetchall()


@pytest.fixture
def twin(db) -> Product:
    """A second organization to import the other format into, so nothing is shared."""
    organization = organization_create(slug="twin", name="Twin", timezone_name="UTC")
    return product_create(organization=organization, key="app", name="Twin App")


@pytest.mark.django_db
def test_it_stores_the_same_events_from_csv_with_dotted_columns_as_from_jsonl(
    product, twin, tmp_path
):
    ingest(write_jsonl(tmp_path / "events.jsonl", MESSAGES))
    out = ingest(write_csv(tmp_path / "events.csv", MESSAGES), org="twin")

    assert out.strip() == "accepted 7, rejected 0, duplicate 0"
    assert stored(twin) == stored(product)
    assert account_traits("twin") == account_traits("acme")
    by_id = {row[0]: row for row in stored(twin)}
    assert by_id["t-1"][-1]["properties"] == {"source": "web", "rows": 12, "scheduled": False}
    assert by_id["p-1"][5:7] == ("acc_2", "acc_2")  # context.groupId wins
    assert by_id["t-1"][5] == "acc_1"  # identify's traits.accountId


@pytest.mark.django_db
def test_it_stores_the_same_events_from_parquet_as_from_jsonl(product, twin, tmp_path):
    ingest(write_jsonl(tmp_path / "events.jsonl", MESSAGES))
    out = ingest(write_parquet(tmp_path / "events.parquet", MESSAGES), org="twin")

    assert out.strip() == "accepted 7, rejected 0, duplicate 0"
    assert stored(twin) == stored(product)
    assert account_traits("twin") == account_traits("acme")


@pytest.mark.django_db
def test_it_stores_the_first_300_conformance_lines_the_same_from_csv(product, twin, tmp_path):
    lines = CONFORMANCE.read_text().splitlines(keepends=True)[:300]
    messages = []
    for line in lines:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict):
            messages.append(message)
    (tmp_path / "head.jsonl").write_text("".join(lines))

    from_jsonl = ingest(tmp_path / "head.jsonl")
    from_csv = ingest(write_csv(tmp_path / "head.csv", messages), org="twin")

    assert from_csv.splitlines()[-1] == from_jsonl.splitlines()[-1]
    assert len(stored(twin)) > 250
    assert stored(twin) == stored(product)
    assert account_traits("twin") == account_traits("acme")


@pytest.mark.django_db
def test_it_converts_a_warehouse_export_and_attributes_by_group_id(product, tmp_path):
    rows = [
        {  # groups table: traits are columns, no type column anywhere
            "id": "w-g1",
            "user_id": "u_9",
            "group_id": "acc_9",
            "name": "Initech",
            "plan": "Enterprise",
            "created_at": "2024-05-01",
            "timestamp": "2026-04-01T08:00:00Z",
            "received_at": "2026-04-01T08:00:01Z",
            "uuid_ts": "2026-04-01 08:10:00",
        },
        {  # tracks table: event is the slug, event_text the name as sent
            "id": "w-t1",
            "user_id": "u_9",
            "event": "report_exported",
            "event_text": "Report Exported",
            "format": "pdf",
            "context_library_name": "analytics.js",
            "original_timestamp": "2026-04-02T10:00:00Z",
            "sent_at": "2026-04-02T10:00:30Z",
            "received_at": "2026-04-02T09:00:00Z",
        },
        {  # pages table: path and url are columns, the account in context_groupId
            "message_id": "w-p1",
            "user_id": "u_9",
            "path": "/reports/3",
            "url": "https://app.example.com/reports/3",
            "context_groupId": "acc_10",
            "timestamp": "2026-04-02T10:05:00Z",
        },
        {  # identifies table with traits as a JSON string
            "id": "w-i1",
            "anonymous_id": "anon_9",
            "traits": json.dumps({"email": "u_9@initech.test"}),
            "context_page_path": "/signup",
            "timestamp": "2026-04-02T10:06:00Z",
        },
        {"id": "w-x1", "user_id": "u_9", "timestamp": "2026-04-02T10:07:00Z"},
    ]
    out = ingest(write_jsonl(tmp_path / "warehouse.jsonl", rows))

    assert out.splitlines() == [
        "line 5: rejected: no type column, and no event, group_id, traits, page path or url"
        " to tell the message type from",
        "accepted 4, rejected 1, duplicate 0",
    ]
    events = {row[0]: row for row in stored(product)}
    assert {k: v[1] for k, v in events.items()} == {"w-g1": 5, "w-t1": 1, "w-p1": 2, "w-i1": 4}
    group, track, page = events["w-g1"], events["w-t1"], events["w-p1"]
    assert group[5] == "acc_9"
    assert (track[3], track[5], track[7:9]) == ("u_9", "acc_9", ("event", "Report Exported"))
    # The row's own received_at is kept and is the base of the clock-skew correction.
    assert track[2].isoformat() == "2026-04-02T08:59:30+00:00"
    assert received_at(product, "w-t1").isoformat() == "2026-04-02T09:00:00+00:00"
    assert track[-1]["properties"] == {"format": "pdf"}
    assert track[-1]["context"] == {"library": {"name": "analytics.js"}}
    assert (page[5], page[8]) == ("acc_10", "/reports/3")
    assert account_traits("acme")["acc_9"] == {
        "name": "Initech",
        "plan": "Enterprise",
        "createdAt": "2024-05-01",
    }


@pytest.mark.django_db
def test_it_rejects_a_bad_csv_row_by_its_line_and_stores_the_rest(product, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "type,messageId,userId,event,timestamp,properties.note\n"
        "track,m-1,u_1,Searched,2026-03-02T10:00:00Z,\n"
        'track,m-2,u_1,Searched,2026-03-02T10:01:00Z,"two\nlines"\n'
        "track,m-3,u_1,Searched,yesterday,\n"
        "\n"
        "track,m-4,u_1,Searched,2026-03-02T10:02:00Z,,extra\n"
        "track,m-5,u_1,Searched,2026-03-02T10:03:00Z,\n"
        "track,m-6,u_1,,2026-03-02T10:04:00Z,\n"
    )
    out = ingest(path)

    assert out.splitlines() == [
        "line 5: rejected: timestamp is not an ISO 8601 date-time: 'yesterday'",
        "line 7: rejected: malformed CSV line: expected 6 fields, saw 7",
        "line 9: rejected: track needs a non-empty event name",
        "accepted 3, rejected 3, duplicate 0",
    ]
    assert [row[0] for row in stored(product)] == ["m-1", "m-2", "m-5"]
    assert stored(product)[1][-1]["properties"] == {"note": "two\nlines"}
    assert [line for line, _ in quarantine(product)] == [5, 7, 9]


@pytest.mark.django_db
def test_it_stores_nothing_new_when_the_same_csv_comes_twice(product, tmp_path):
    path = write_csv(tmp_path / "events.csv", MESSAGES)
    ingest(path)
    events = stored(product)

    assert ingest(path).strip() == "accepted 0, rejected 0, duplicate 7"
    assert stored(product) == events


@pytest.mark.django_db
def test_it_reads_the_format_given_whatever_the_extension(product, tmp_path):
    path = write_csv(tmp_path / "events.txt", MESSAGES)

    assert ingest(path, "--format", "csv").strip() == "accepted 7, rejected 0, duplicate 0"


@pytest.mark.django_db
def test_it_streams_in_chunks_and_reports_progress(org, product, tmp_path):
    messages = [
        {**MESSAGES[2], "messageId": f"t-{n}", "timestamp": f"2026-03-02T10:{n:02d}:00Z"}
        for n in range(50)
    ]
    for path in (
        write_csv(tmp_path / "events.csv", messages),
        write_parquet(tmp_path / "events.parquet", messages),
    ):
        steps: list[int] = []
        with tenant_scope(org, product):
            result = file_ingest(product=product, path=path, chunk_size=7, on_progress=steps.append)
        total = path.stat().st_size if path.suffix == ".csv" else 50
        assert sum(steps) == total
        assert len(steps) >= 2
        assert result.accepted + result.duplicate == 50


@pytest.mark.django_db
def test_it_shows_a_progress_bar_of_rows_for_parquet(product, tmp_path):
    path = write_parquet(tmp_path / "events.parquet", MESSAGES)
    err = StringIO()
    args = (str(path), "--org", "acme", "--product", "app")
    call_command("ingest_events", *args, stdout=StringIO(), stderr=err)

    assert "7/7" in err.getvalue()


def test_it_passes_a_segment_message_through_unchanged():
    message = MESSAGES[3]

    assert to_segment_message(message) is message


def test_it_infers_the_type_of_a_warehouse_row():
    assert to_segment_message({"id": "1", "event": "Signed Up"})["type"] == "track"
    assert to_segment_message({"id": "1", "group_id": "acc_1"})["type"] == "group"
    assert to_segment_message({"id": "1", "context_page_path": "/"})["type"] == "page"
    assert to_segment_message({"id": "1", "url": "https://x.test/a"})["type"] == "page"
    assert to_segment_message({"id": "1", "traits.email": "a@x.test"})["type"] == "identify"


def test_it_nests_dotted_and_snake_case_context_columns():
    message = to_segment_message(
        {
            "type": "page",
            "message_id": "1",
            "properties": '{"path": "/a"}',
            "properties.title": "A",
            "context.page.referrer": "https://x.test/",
            "context_page_path": "/a",
            "context_group_id": "acc_1",
            "context_device_ad_tracking_enabled": True,
        }
    )

    assert message == {
        "type": "page",
        "messageId": "1",
        "properties": {"path": "/a", "title": "A"},
        "context": {
            "page": {"referrer": "https://x.test/", "path": "/a"},
            "groupId": "acc_1",
            "device": {"adTrackingEnabled": True},
        },
    }


def test_it_says_why_a_row_cannot_be_converted():
    with pytest.raises(ConversionError, match="the properties column is not valid JSON"):
        to_segment_message({"type": "track", "properties": "{oops"})
    with pytest.raises(ConversionError, match="clashes with columns nested under it"):
        to_segment_message({"type": "page", "context.page.path": "/a", "context.page": "x"})
