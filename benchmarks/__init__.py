"""Benchmarks: a synthetic 10M-event organization, the health engine and ingestion rates.

Run them with `make bench-health` and `make bench-ingest`; figures go in docs/benchmarks.md.
"""
