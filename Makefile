# A newcomer runs `make demo` or `make test` on a fresh machine; both set everything up first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.unitrl-installed

.PHONY: setup test test-fast demo lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@bash scripts/ensure_bwrap.sh
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11) on PATH, or run: make PYTHON=/path/to/python3.11"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,ray]'
	@touch $(STAMP)
	@echo "ready: $(BIN)/unitrl"

test: setup
	$(BIN)/pytest -q

test-fast: setup
	$(BIN)/pytest -q -m "not slow and not integration"

lint: setup
	$(BIN)/ruff check src tests benchmarks

demo: setup
	$(BIN)/unitrl model pull
	$(BIN)/python scripts/demo.py

bench: setup
	$(BIN)/python benchmarks/executor.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
