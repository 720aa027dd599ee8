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

.PHONY: help setup demo test lint bench clean

help:
	@echo "make demo   set up, generate a synthetic trust, run the daily DAG through Airflow"
	@echo "make test   set up and run the tests"

$(VENV)/.synced: pyproject.toml uv.lock
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --python 3.11
	@touch $@

setup: $(VENV)/.synced
	@$(BIN)/attendance setup

demo: setup
	@$(BIN)/attendance generate --home "$(ATTENDANCE_HOME)" --academies $(DEMO_ACADEMIES) --pupils $(DEMO_PUPILS) --demo
	@$(BIN)/attendance airflow-run --home "$(ATTENDANCE_HOME)"

test: setup
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# make bench BENCH_ARGS="--sizes S,M --profile" (see docs/benchmarks.md)
bench: setup
	$(PY) -m bench.run $(BENCH_ARGS)

clean:
	rm -rf home .airflow dbt_project/target dbt_project/logs
