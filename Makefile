# `make dev` runs the local stack; `make test` runs every test. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install dev test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

dev: install
	$(BIN)/python -m engram.local

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/cfn-lint template.yaml

bench: install
	$(BIN)/python bench/cold_start.py --quick
	$(BIN)/python bench/embedder.py --quick
	$(BIN)/python bench/search_index.py --quick
	$(BIN)/python bench/speed.py --quick
	$(BIN)/python bench/emulator.py --quick
	$(BIN)/python bench/retrieval.py --quick
	$(BIN)/python bench/context.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .engram
