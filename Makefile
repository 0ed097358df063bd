# Atendo — two commands: `make run` serves it, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
PG_HOST ?= 127.0.0.1
PG_PORT ?= 5432
PG_TEST_URL ?= postgresql+psycopg://postgres@$(PG_HOST):$(PG_PORT)/postgres

.PHONY: run test test-sqlite test-postgres check bench venv clean mutants

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(STAMP)

venv: $(STAMP)

## Serve Atendo on http://127.0.0.1:8000 (SQLite and files under ./var, workers in-process).
run: $(STAMP)
	$(BIN)/atendo serve

## Run the whole test suite: SQLite, then PostgreSQL when a server answers on 127.0.0.1:5432.
test: $(TEST_STAMP)
	bash scripts/install-system-deps.sh
	bash scripts/run-tests.sh

check: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(TEST_STAMP)
	bash scripts/install-system-deps.sh
	bash scripts/run-bench.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-output

## A small mutation check (slow; not part of `make test`): planted bugs the tests must catch.
mutants: $(TEST_STAMP)
	$(BIN)/python scripts/mutants.py
