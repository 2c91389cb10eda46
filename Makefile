# Vitals: `make demo` runs the demo, `make test` runs the suite. Both set up .venv first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test lint prod-smoke demo-smoke conformance install load

$(STAMP): pyproject.toml
	@PYTHON_BIN=$$(scripts/find_python.sh) && \
	  { [ -x $(PY) ] || $$PYTHON_BIN -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py seed_demo --if-empty
	@echo "Serving Vitals on http://$(HOST):$(PORT)/ (Ctrl-C to stop)"
	$(PY) manage.py runserver --noreload $(HOST):$(PORT)

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	DB_CONN_MAX_AGE=0 $(PY) -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

prod-smoke: $(STAMP)
	$(PY) scripts/prod_smoke.py

demo-smoke: $(STAMP)
	$(PY) scripts/demo_smoke.py

conformance: $(STAMP)
	$(PY) manage.py migrate --noinput -v0
	$(PY) scripts/conformance.py

.PHONY: faults

# Real gunicorn, Celery workers and beat while processes die and a private PostgreSQL
# cluster and Redis server restart or are wiped (tests/faults; docs/security.md, "Faults").
faults: $(STAMP)
	$(PY) -m pytest -q -m faults tests/faults $(PYTEST_ARGS)

# Five minutes of ingestion at LOAD_RATE with the explorer in use, on a scratch database
# beside DATABASE_URL's; LOAD_DURATION=30 for a quick run. Figures: docs/benchmarks.md.
load: $(STAMP)
	$(PY) scripts/load.py

.PHONY: bench-health bench-ingest

# Benchmarks on the database in DATABASE_URL (use a scratch one): figures in docs/benchmarks.md.
bench-health: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) benchmarks/bench_health.py $(BENCH_ARGS)

bench-ingest: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) benchmarks/bench_ingest.py $(BENCH_ARGS)

.PHONY: bench-ui

# Explorer server time at 100,000 accounts (seeded once into DATABASE_URL, then reused).
bench-ui: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) benchmarks/bench_ui.py $(BENCH_ARGS)
