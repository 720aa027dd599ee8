# The front door: `make demo` and `make test` (SPEC 9). Everything installs into .venv via uv.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
BIN         := $(VENV)/bin
# uv comes from PyPI; `python3 -m uv` works wherever pip put it.
UV          := python3 -m uv
export ATTENDANCE_HOME ?= $(CURDIR)/home
export AIRFLOW_HOME    ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__UNIT_TEST_MODE := False
export GX_ANALYTICS_ENABLED := False
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := False

DEMO_ACADEMIES ?= 4
DEMO_PUPILS    ?= 1500
# Test processes (pytest-xdist). In one process the suite keeps one core busy on average (it
# waits on dbt, Airflow and its own worker processes); two take it from 636 s to 387 s on two
# cores. Whole files go to one process, as their module fixtures build one home each.
# TEST_WORKERS=0 runs the suite in pytest's own process.
TEST_WORKERS   ?= 2

.PHONY: help setup demo test lint bench clean screenshots

help:
	@echo "make demo   set up, generate a synthetic trust, run the daily DAG through Airflow"
	@echo "make test   set up and run the tests"

$(VENV)/.synced: pyproject.toml uv.lock
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode --python 3.11
	@touch $@

setup: $(VENV)/.synced
	@$(BIN)/attendance setup

demo: setup
	@$(BIN)/attendance generate --home "$(ATTENDANCE_HOME)" --academies $(DEMO_ACADEMIES) --pupils $(DEMO_PUPILS) --demo
	@$(BIN)/attendance airflow-run --home "$(ATTENDANCE_HOME)"

test: setup
	$(BIN)/ruff check .
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# The pictures in README.md: a small synthetic trust, one run, the spreadsheet and the trust
# report rendered to PNG (needs Debian's libreoffice-calc, poppler-utils and chromium).
SHOTS_HOME ?= /tmp/attendance-screenshots
SHOTS_DATE ?= 2025-11-21
screenshots: setup
	rm -rf "$(SHOTS_HOME)"
	@$(BIN)/attendance generate --home "$(SHOTS_HOME)" --academies 4 --pupils 700 --start 2025-09-01 --end $(SHOTS_DATE) --seed 7
	@ATTENDANCE_HOME="$(SHOTS_HOME)" $(BIN)/attendance run --home "$(SHOTS_HOME)" --date $(SHOTS_DATE)
	@$(BIN)/attendance render-docs --home "$(SHOTS_HOME)" --date $(SHOTS_DATE) --out docs --urn 140102

# make bench BENCH_ARGS="--sizes S,M --profile" (see docs/benchmarks.md)
bench: setup
	$(PY) -m bench.run $(BENCH_ARGS)

clean:
	rm -rf home .airflow dbt_project/target dbt_project/logs
