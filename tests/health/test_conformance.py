"""Every folder of ../shared/conformance through the four contract commands: zero mismatches."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from health.conformance import compare_outputs, fixture_dirs

FIXTURES = fixture_dirs()


def run_contract(fixture: Path, out: Path) -> None:
    config = json.loads((fixture / "config.json").read_text())
    org, product = config["organization"]["slug"], config["product"]["key"]
    as_of = config["as_of"]
    quiet = {"stdout": StringIO(), "stderr": StringIO()}
    call_command("import_config", str(fixture / "config.json"), **quiet)
    call_command(
        "ingest_events",
        str(fixture / "events.jsonl"),
        "--org",
        org,
        "--product",
        product,
        "--no-progress",
        **quiet,
    )
    call_command("compute_health", "--org", org, "--product", product, "--as-of", as_of, **quiet)
    call_command(
        "export_health",
        "--org",
        org,
        "--product",
        product,
        "--as-of",
        as_of,
        "--out",
        str(out),
        **quiet,
    )


def test_it_finds_the_conformance_fixtures():
    assert {path.name for path in FIXTURES} >= {"micro", "basic", "kolkata_wau"}


@pytest.mark.django_db
@pytest.mark.parametrize("fixture", FIXTURES, ids=[path.name for path in FIXTURES])
def test_it_reproduces_the_fixture_exactly(fixture, tmp_path):
    run_contract(fixture, tmp_path)
    mismatches = compare_outputs(fixture, tmp_path)
    assert mismatches == [], "\n".join(mismatches[:40])
