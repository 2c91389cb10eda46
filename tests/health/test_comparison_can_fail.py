"""The comparison used by the conformance test does detect wrong numbers."""

from __future__ import annotations

import shutil

from health.conformance import compare_outputs, fixture_dirs


def test_it_reports_a_changed_number(tmp_path):
    fixture = next(path for path in fixture_dirs() if path.name == "micro")
    for name in ("accounts.csv", "summary.json", "drilldown.json"):
        shutil.copy(fixture / f"expected_{name}", tmp_path / name)
    assert compare_outputs(fixture, tmp_path) == []

    csv_text = (tmp_path / "accounts.csv").read_text()
    (tmp_path / "accounts.csv").write_text(csv_text.replace("53.333333333333336", "53.34"))
    assert any("product_score" in line for line in compare_outputs(fixture, tmp_path))
