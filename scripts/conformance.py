#!/usr/bin/env python
"""Runs conformance fixture folders through the four contract commands and compares.

Usage: python scripts/conformance.py [FIXTURE_DIR ...]   (default: ../shared/conformance/*)
Prints one line per mismatch and a closing 'N passed, N failed' line; exit 1 on mismatch.
Run it on a fresh database: summary.json's message counts (accepted, rejected, duplicate)
are the product's counts over all its ingestion, so a second run of the same file adds its
rejected lines and duplicates to them (while storing no event twice).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from health.conformance import compare_outputs, fixture_dirs  # noqa: E402


def run(*args: str) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], check=True, stdout=subprocess.DEVNULL
    )


def main(argv: list[str]) -> int:
    dirs = [Path(arg) for arg in argv] or fixture_dirs()
    passed = failed = 0
    for fixture in dirs:
        config = __import__("json").loads((fixture / "config.json").read_text())
        org, product, as_of = (
            config["organization"]["slug"],
            config["product"]["key"],
            config["as_of"],
        )
        with tempfile.TemporaryDirectory() as out:
            run("import_config", str(fixture / "config.json"))
            run(
                "ingest_events",
                str(fixture / "events.jsonl"),
                "--org",
                org,
                "--product",
                product,
                "--no-progress",
            )
            run("compute_health", "--org", org, "--product", product, "--as-of", as_of)
            run("export_health", "--org", org, "--product", product, "--as-of", as_of, "--out", out)
            mismatches = compare_outputs(fixture, Path(out))
        for line in mismatches[:50]:
            print(f"{fixture.name}: {line}")
        print(f"{fixture.name}: {len(mismatches)} mismatches")
        if mismatches:
            failed += 1
        else:
            passed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
