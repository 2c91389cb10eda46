"""The pure-Python reference (tests/health/reference.py) reproduces every conformance
fixture: the oracle the randomized comparison trusts is itself checked against SPEC's
worked examples. No database: the reference reads the fixture files only."""

from __future__ import annotations

import pytest

from health.conformance import compare_outputs, fixture_dirs
from tests.health import reference

FIXTURES = fixture_dirs()


@pytest.mark.parametrize("fixture", FIXTURES, ids=[path.name for path in FIXTURES])
def test_it_reproduces_the_fixture_exactly(fixture, tmp_path):
    reference.write_outputs(reference.fixture_outputs(fixture), tmp_path)
    mismatches = compare_outputs(fixture, tmp_path)
    assert mismatches == [], "\n".join(mismatches[:40])


def test_it_would_notice_a_wrong_session_gap(monkeypatch, tmp_path):
    """The comparison can fail: a 31-minute session gap changes basic's visits."""
    fixture = next(path for path in FIXTURES if path.name == "basic")
    monkeypatch.setattr(reference, "SESSION_GAP", reference.timedelta(minutes=31))
    reference.write_outputs(reference.fixture_outputs(fixture), tmp_path)
    mismatches = compare_outputs(fixture, tmp_path)
    assert any(".visits" in line for line in mismatches)
