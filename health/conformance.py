"""Comparison of export_health output with a conformance fixture's expected files.

Integers and strings exactly, floats within 1e-6, empty cells as null (README of
../shared/conformance)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

TOLERANCE = 1e-6
# The fixtures sit beside the checkout: ../shared/conformance.
FIXTURES_ROOT = Path(__file__).resolve().parent.parent.parent / "shared" / "conformance"


def fixture_dirs() -> list[Path]:
    root = FIXTURES_ROOT
    return sorted(path for path in root.iterdir() if (path / "config.json").exists())


def values_equal(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return abs(float(expected) - float(actual)) <= TOLERANCE
    if isinstance(expected, dict) and isinstance(actual, dict):
        return all(
            key in actual and values_equal(value, actual[key]) for key, value in expected.items()
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(map(values_equal, expected, actual))
    return expected == actual


def _cell(value: str) -> Any:
    if value == "":
        return None
    try:
        return float(value)
    except ValueError:
        return value


def compare_outputs(fixture: Path, out: Path) -> list[str]:
    problems: list[str] = []
    expected_rows = list(csv.DictReader((fixture / "expected_accounts.csv").open()))
    actual_rows = {row["account_id"]: row for row in csv.DictReader((out / "accounts.csv").open())}
    expected_ids = [row["account_id"] for row in expected_rows]
    if sorted(expected_ids) != sorted(actual_rows):
        problems.append(f"accounts differ: expected {expected_ids}, got {sorted(actual_rows)}")
    for row in expected_rows:
        actual = actual_rows.get(row["account_id"])
        if actual is None:
            continue
        for column, value in row.items():
            if column not in actual:
                problems.append(f"accounts.csv has no column {column}")
            elif not values_equal(_cell(value), _cell(actual[column])):
                problems.append(
                    f"{row['account_id']}.{column}: expected {value!r}, got {actual[column]!r}"
                )
    for name in ("summary", "drilldown"):
        expected = json.loads((fixture / f"expected_{name}.json").read_text())
        actual = json.loads((out / f"{name}.json").read_text())
        _compare_json(expected, actual, name, problems)
    return problems


def _compare_json(expected: Any, actual: Any, path: str, problems: list[str]) -> None:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
            else:
                _compare_json(value, actual[key], f"{path}.{key}", problems)
    elif not values_equal(expected, actual):
        problems.append(f"{path}: expected {expected!r}, got {actual!r}")
