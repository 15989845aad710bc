# The README's commands are these targets; .ci/run calls `make ci` targets, nothing else.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LANDING ?= var/landing/seed
PG_SERVER_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
PORT ?= 8080
PYTEST_ARGS ?=
# Test workers (pytest-xdist): each has its own embedded warehouse, Airflow home and temp dirs;
# `loadgroup` keeps a module that builds one expensive fixture (the seed year) on one worker.
PYTEST_WORKERS ?= auto
PYTEST := $(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup

.PHONY: help venv browser demo lint test test-server ci airflow generate bench warehouse-stop clean

help:
	@echo "make demo         set up, generate the case-study landing zone, run it through Airflow, print the KPIs"
	@echo "make lint         ruff over plugins/, dags/ and tests/ (part of make test)"
	@echo "make test         set up, lint and run the test suite on the embedded warehouse"
	@echo "make test-server  the warehouse tests against the PostgreSQL server at PG_SERVER_URL"
	@echo "make airflow      Airflow standalone (UI on :8080, or PORT=...) with the project's DAGs and the embedded warehouse"
	@echo "make bench        measure throughput, parse time, memory, wall times and a Celery backfill; writes bench/results.md"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(LANDING)/ref/sub_centres.csv: | $(STAMP)
	$(PY) -m campus_logistics generate --scenario seed --out $(LANDING)

generate: $(LANDING)/ref/sub_centres.csv

demo: $(STAMP) generate
	$(PY) -m campus_logistics run --landing $(LANDING) --start 2001-01-01 --end 2001-12-31
	$(PY) -m campus_logistics kpis --year 2001
	$(PY) -m campus_logistics seed-table

# Headless Chromium (and a CJK font for its screenshots) for the UI tests: Debian packages,
# installed when missing and we are root; otherwise those tests skip saying why.
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi 'wqy\|noto.*cjk'; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null; \
	  else echo "chromium missing and not root: the browser tests will be skipped"; fi; \
	fi
	@if ! command -v soffice >/dev/null 2>&1 || ! command -v pdftoppm >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      libreoffice-calc-nogui poppler-utils fonts-wqy-zenhei >/dev/null; \
	  else echo "LibreOffice or poppler-utils missing and not root: the workbook print test will be skipped"; fi; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check plugins dags tests

test: $(STAMP) browser lint
	$(PYTEST) -m "not server_only" $(PYTEST_ARGS)

test-server: $(STAMP) lint
	CAMPUS_LOGISTICS_TEST_PG_URL=$(PG_SERVER_URL) $(PYTEST) -m "not embedded_only" $(PYTEST_ARGS)

ci: test test-server

airflow: $(STAMP) generate
	$(PY) -m campus_logistics airflow --landing $(LANDING) --port $(PORT)

bench: $(STAMP)
	$(PY) -m campus_logistics_tools.bench --out bench --backfill $(BENCH_ARGS)

warehouse-stop: $(STAMP)
	$(PY) -m campus_logistics warehouse stop

# var/ holds the embedded warehouse's data directory: deleted only once its server is stopped
# (warehouse-stop exits non-zero when the postmaster is still running, and make stops there).
clean: warehouse-stop
	rm -rf var
