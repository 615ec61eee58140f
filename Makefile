# `make dev` runs the local stack; `make test` runs every test. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The template's Runtime: `make build` compiles the functions' bytecode with it.
LAMBDA_PYTHON ?= python3.12

.PHONY: install dev test lint build bench clean

# The server and, editable beside it, its clients (SDK, MCP server, user CLI: clients/python).
$(STAMP): pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -e 'clients/python[mcp]'
	touch $(STAMP)

install: $(STAMP)

dev: install
	$(BIN)/python -m engram_local

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/cfn-lint template.yaml

# The deployable build: SAM's, then bytecode for Lambda's Python (infra/bytecode.py says why).
build:
	sam build
	$(LAMBDA_PYTHON) infra/bytecode.py .aws-sam/build

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
