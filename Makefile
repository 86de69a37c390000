# airloop — the two commands a new user needs are `make demo` and `make test`; a developer's loop is `make check`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
STAMP := $(VENV)/.airloop-installed
PYTEST_ARGS ?=

.PHONY: venv lock up demo down stack-up stack-down check test test-unit test-dags test-integration test-browser browser-deps test-e2e lint typecheck format bench clean

venv: $(STAMP) ## create/update .venv from the pinned requirements (seconds when up to date)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || command -v uv >/dev/null 2>&1 || $(PYTHON) -m pip install -q uv
	@test -x $(PY) || $(UV) venv -q --python $(PYTHON) $(VENV)
	$(UV) pip install -q --compile-bytecode --python $(PY) -r requirements.txt
	$(UV) pip install -q --python $(PY) --no-deps -e .
	@touch $@

lock: ## re-resolve requirements.txt from requirements.in
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || command -v uv >/dev/null 2>&1 || $(PYTHON) -m pip install -q uv
	$(UV) pip compile -q requirements.in -o requirements.txt --python-version 3.11

up: venv ## start the embedded stack (Airflow standalone + MLflow; AIRLOOP_SPECS_DIR honoured), no demo loop
	$(VENV)/bin/airloop stack up

demo: venv ## run the loop on the embedded stack (Airflow standalone + MLflow + local DVC remote)
	$(VENV)/bin/airloop demo

stack-up: venv ## the production topology natively: Celery + PostgreSQL + Redis, MLflow on PostgreSQL + S3 (moto)
	$(VENV)/bin/airloop stack up --native

stack-down: down ## stop what `make stack-up` started

down: ## stop what `make up`, `make demo` (or `make stack-up`) started
	@if [ -x $(VENV)/bin/airloop ]; then $(VENV)/bin/airloop stack down; else echo "nothing to stop"; fi

check: venv lint typecheck ## the developer's loop (< 3 min): lint, type check, fast unit tests and DAG integrity
	$(PY) -m pytest -m "(unit and not slow) or dags" $(PYTEST_ARGS)

test: venv lint typecheck browser-deps ## everything: unit, DAG integrity, integration (real services), e2e, browser
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit 5): the suite must not be empty" >&2; fi; \
	  exit $$rc

test-unit: venv
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

test-dags: venv
	$(PY) -m pytest -m dags $(PYTEST_ARGS)

browser-deps: ## Debian's chromium for the browser tests (apt; Playwright drives it, never `playwright install`)
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  echo "installing chromium with apt (browser tests)"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

test-browser: venv browser-deps ## Model Ops API and headless-Chromium tests (screenshots in test-artifacts/browser/)
	$(PY) -m pytest tests/browser $(PYTEST_ARGS)

test-integration: venv ## real services: S3 (moto), and the native topology on PostgreSQL + Redis
	$(PY) -m pytest -m integration $(PYTEST_ARGS)

test-e2e: venv
	$(PY) -m pytest -m e2e $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv ## mypy over include/ and plugins/ (settings in pyproject.toml)
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: venv ## measure the benchmark ratios and refresh docs/benchmarks.md
	$(PY) bench/run_all.py

clean: down
	rm -rf .run
