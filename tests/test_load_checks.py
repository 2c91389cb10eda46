"""`make load`'s checks (scripts/load.py): what passes and what fails a run, from figures
made up here, and the gunicorn command it starts its two servers with."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "load.py"


@pytest.fixture(scope="module")
def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("load_script", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def sampler(load: ModuleType, samples: list[tuple[float, int, int]]):
    # Never started: the thread that would read /proc is not what is tested here.
    rss = load.RssSampler(master_pid=0)
    rss.samples = samples
    return rss


def flat(kb: int, seconds: int = 300) -> list[tuple[float, int, int]]:
    return [(float(at), kb, 2) for at in range(2, seconds + 1, 2)]


def run_figures(load: ModuleType, *, explorer_ms: list[float], web_kb_at_end: int = 170_000):
    """report()'s inputs for 300 s at 2,000 events/s, every message stored once."""
    accepted = 600_000
    summary = {
        "messages_sent": accepted,
        "accepted": accepted,
        "accepted_per_bucket": {str(bucket): 20_000 for bucket in range(30)},
        "explorer_ms": explorer_ms,
        "batch_ms": [300.0] * 1200,
        "batches": 1200,
        "error_count": 0,
        "locust_failures": 0,
        "locust_requests": 1200 + len(explorer_ms),
        "errors": [],
    }
    web = flat(170_000)
    web[-10:] = [(at, web_kb_at_end, 2) for at, _kb, _n in web[-10:]]
    return {
        "summary": summary,
        "baseline": {"explorer_ms": [60.0] * 40},
        "stored": load.Stored(events=accepted, distinct=accepted, unanswered=[]),
        "samplers": {"ingest": sampler(load, flat(165_000)), "web": sampler(load, web)},
        "load_seconds": 300.0,
        "loads": [(1.0, 1.0, 1.0)] * 3,
    }


@pytest.fixture
def settings_2000(load, monkeypatch) -> object:
    for name in ("LOAD_RATE", "LOAD_BATCH", "LOAD_MAX_RSS_GROWTH", "LOAD_DURATION"):
        monkeypatch.delenv(name, raising=False)
    return load.Settings()


def test_it_passes_a_run_whose_explorer_p95_is_under_150_ms(load, settings_2000, capsys):
    explorer = [80.0] * 570 + [140.0] * 30
    failed = load.report(settings_2000, **run_figures(load, explorer_ms=explorer))
    assert failed == []
    assert "PASS  explorer p95 during ingestion      140 ms" in capsys.readouterr().out


def test_it_fails_a_run_whose_explorer_p95_reaches_150_ms(load, settings_2000, capsys):
    explorer = [80.0] * 570 + [150.0] * 30
    failed = load.report(settings_2000, **run_figures(load, explorer_ms=explorer))
    assert failed == ["explorer p95 during ingestion"]
    assert "FAIL  explorer p95 during ingestion      150 ms" in capsys.readouterr().out


def test_it_fails_a_run_without_explorer_requests(load, settings_2000):
    failed = load.report(settings_2000, **run_figures(load, explorer_ms=[]))
    assert failed == ["explorer p95 during ingestion"]


def test_it_fails_the_server_whose_workers_grew(load, settings_2000, capsys):
    figures = run_figures(load, explorer_ms=[80.0] * 600, web_kb_at_end=210_000)
    failed = load.report(settings_2000, **figures)
    assert failed == ["web workers' RSS"]
    out = capsys.readouterr().out
    assert "PASS  ingest workers' RSS                161 MB -> 161 MB (+0.0%)" in out
    assert "FAIL  web workers' RSS                   166 MB -> 205 MB (+23.5%)" in out


def test_it_compares_the_peaks_of_the_first_and_the_last_minute(load):
    samples = flat(100_000)
    samples[5] = (12.0, 110_000, 2)  # first minute's peak
    samples[100] = (202.0, 150_000, 2)  # between the windows: not counted
    samples[-3] = (296.0, 121_000, 2)  # last minute's peak
    growth = load.memory_growth(samples, load_seconds=300)
    assert (growth.first_kb, growth.last_kb, growth.window) == (110_000, 121_000, 60.0)
    assert growth.growth == pytest.approx(0.10)


def test_it_takes_a_third_of_a_short_run_as_each_window(load):
    samples = [(2.0, 100_000, 2), (9.0, 100_000, 2), (12.0, 500_000, 2), (25.0, 90_000, 2)]
    growth = load.memory_growth(samples, load_seconds=30)
    assert (growth.first_kb, growth.last_kb, growth.window) == (100_000, 90_000, 10.0)


def test_it_counts_a_server_without_samples_as_unbounded_growth(load):
    growth = load.memory_growth([], load_seconds=300)
    assert growth.growth == float("inf")


def test_it_disables_the_control_socket_only_when_gunicorn_knows_how(load):
    with_flag = load.gunicorn_command(port=8001, workers=2, no_control_socket=True, extra=[])
    without = load.gunicorn_command(port=8001, workers=3, no_control_socket=False, extra=["-k"])
    assert "--no-control-socket" in with_flag
    assert "--no-control-socket" not in without
    assert without[-1] == "-k"
    assert without[without.index("-w") + 1] == "3"
    assert without[without.index("-b") + 1] == "127.0.0.1:8001"


def test_it_reads_the_installed_gunicorns_flags(load):
    assert load.gunicorn_supports("--workers")
    assert not load.gunicorn_supports("--no-such-flag")
