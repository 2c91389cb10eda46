"""Ingesting a file twice changes no stored event; split in parts, in any order, the same."""

from __future__ import annotations

import json

import pytest

from tests.health.helpers import (
    command,
    compute,
    fixture,
    health_snapshot,
    ingest_file,
    stored_events,
)
from vitals.tenancy.models import Product


def product_of(slug: str) -> Product:
    return Product.dangerously_unscoped.get(organization__slug=slug, key="app")


@pytest.mark.django_db
def test_it_stores_nothing_new_when_the_same_file_comes_twice():
    command("import_config", str(fixture("basic") / "config.json"))
    first = ingest_file(fixture("basic") / "events.jsonl", "basic", "app")
    events = stored_events(product_of("basic").pk)
    second = ingest_file(fixture("basic") / "events.jsonl", "basic", "app")

    assert first.strip().endswith("accepted 13066, rejected 6, duplicate 144")
    assert second.strip().endswith("accepted 0, rejected 6, duplicate 13210")
    assert stored_events(product_of("basic").pk) == events


@pytest.mark.django_db
def test_it_gives_the_same_numbers_when_the_file_is_split_and_sent_out_of_order(tmp_path):
    source = fixture("kolkata_wau")
    lines = (source / "events.jsonl").read_bytes().splitlines(keepends=True)
    parts = [lines[i::4] for i in range(4)]  # interleaved, so each part is out of order
    for number, part in enumerate(parts):
        (tmp_path / f"part{number}.jsonl").write_bytes(b"".join(part))

    command("import_config", str(source / "config.json"))
    ingest_file(source / "events.jsonl", "kolkata", "app")
    compute("kolkata", "app", "2026-10-31")
    whole = health_snapshot(product_of("kolkata").pk, "2026-10-31")
    whole_events = stored_events(product_of("kolkata").pk)

    # The same organization again under another slug, fed in parts, last part first.
    config = (source / "config.json").read_text().replace('"kolkata"', '"kolkata-split"')
    (tmp_path / "config.json").write_text(config)
    command("import_config", str(tmp_path / "config.json"))
    for number in reversed(range(4)):
        ingest_file(tmp_path / f"part{number}.jsonl", "kolkata-split", "app")
    compute("kolkata-split", "app", "2026-10-31")
    split = health_snapshot(product_of("kolkata-split").pk, "2026-10-31")

    def account_rows(snapshot):
        # ids differ between the two organizations; every value must not
        out = []
        for row in snapshot[:-1]:
            data = json.loads(row)
            for key in ("organization_id", "product_id", "account_id"):
                data.pop(key)
            out.append(json.dumps(data, sort_keys=True))
        return sorted(out)

    assert account_rows(split) == account_rows(whole)
    assert whole[-1] == split[-1]
    assert len(stored_events(product_of("kolkata-split").pk)) == len(whole_events)
