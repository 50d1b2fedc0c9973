# hasteCRM AI platform. The README's two commands are `make demo` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help install demo test test-all test-fast lint services pipeline serve clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## Create .venv and install the platform with its dev tools

demo: install  ## Install, start the local services if down, run the main job end to end (flows -> MLflow -> Ray Serve -> API calls -> real-time events)
	@bash scripts/start-services.sh
	$(BIN)/haste demo

services:  ## Start PostgreSQL, Redis and RabbitMQ if they are down; install Chromium for browser tests
	@bash scripts/start-services.sh
	@bash scripts/install-browser.sh

test: install services  ## Install, start services, lint, check the architecture and run the tests (all but `slow`)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

test-all: install services  ## Like `test`, and the `slow` tests too
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: install  ## Unit tests only
	$(BIN)/pytest -m unit $(PYTEST_ARGS)

lint: install  ## ruff check + format check + architecture contracts (import-linter)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/ruff format --check .

pipeline: install  ## Reproduce the DVC pipeline (ingest -> validate -> features -> train -> evaluate)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro

serve: install  ## Serve the champion lead-scoring model with Ray Serve on :8000
	$(BIN)/haste serve

clean:  ## Remove local state (.haste/) and pipeline outputs (data/*)
	rm -rf .haste data/raw data/features data/models data/reports
