"""The presentation rules: one decimal, band colours, SPEC's trend and change."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from accounts_explorer import formatting as fmt


@pytest.mark.parametrize(
    ("band", "colour"),
    [
        ("At Risk", "red"),
        ("Low", "red"),
        ("Neutral", "yellow"),
        ("Moderate", "yellow"),
        ("Healthy", "green"),
        ("High", "green"),
        ("Inactive", "grey"),
        ("Not configured", "grey"),
        ("", "grey"),
    ],
)
def test_it_colours_every_band_as_the_spec_says(band, colour):
    assert fmt.band_colour(band) == colour


def test_it_bands_values_at_the_limits_like_the_engine():
    assert fmt.score_band(24.999, 25, 45) == "At Risk"
    assert fmt.score_band(25, 25, 45) == "Neutral"
    assert fmt.score_band(45, 25, 45) == "Healthy"
    assert fmt.level_band(29.9, 30, 60) == "Low"
    assert fmt.level_band(60, 30, 60) == "High"
    assert fmt.level_band(None, 30, 60) == ""


def test_it_shows_percentages_to_one_decimal():
    assert fmt.percent(42.857142857142854) == "42.9%"
    assert fmt.percent(0.0) == "0.0%"
    assert fmt.percent(100.0) == "100.0%"
    assert fmt.percent(None) == "–"


def test_it_formats_counts_durations_and_days():
    assert fmt.integer(12345) == "12,345"
    assert fmt.duration(419.6128461538461) == "7m 0s"
    assert fmt.duration(3725) == "1h 2m"
    assert fmt.duration(0.0) == "0s"
    assert fmt.duration(None) == "–"
    late = datetime(2026, 10, 30, 23, 30, tzinfo=UTC)
    assert fmt.day(late) == "2026-10-30"
    assert fmt.day(late, ZoneInfo("Asia/Kolkata")) == "2026-10-31"
    assert fmt.day(date(2026, 1, 2)) == "2026-01-02"


def test_it_follows_the_spec_for_trends():
    assert fmt.trend(2, 1) == "up"
    assert fmt.trend(1, 2) == "down"
    assert fmt.trend(1, 1) == "flat"
    assert fmt.trend(None, 1) == "flat"
    assert fmt.trend(1, None) == "flat"


def test_it_draws_green_up_and_red_down_with_the_prior_value_for_hover():
    up = fmt.trend_of(50.0, 40.0, "40.0%")
    assert (up.symbol, up.colour, up.label, up.title) == (
        "▲",
        "green",
        "up from 40.0%",
        "Prior 30 days: 40.0%",
    )
    down = fmt.trend_of(30.0, 40.0, "40.0%")
    assert (down.symbol, down.colour) == ("▼", "red")
    worse = fmt.trend_of(5, 3, "3", higher_is_better=False)
    assert (worse.symbol, worse.colour) == ("▲", "red")
    flat = fmt.trend_of(None, 40.0, "40.0%")
    assert (flat.symbol, flat.colour) == ("", "grey")


def test_it_computes_changes_as_the_spec_says_and_none_without_a_prior():
    assert fmt.change_percent(9, 8) == pytest.approx(12.5)
    assert fmt.change_percent(3, 0) is None
    assert fmt.change_of(9, 8).text == "+12.5%"
    assert fmt.change_of(3, 4, higher_is_better=False).colour == "green"
    assert fmt.change_of(3, 0).text == "–"
    assert fmt.change_of(10, None) is None
