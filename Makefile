# `make dev` runs the local stack; `make test` runs every test. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The template's Runtime: `make build` compiles the functions' bytecode with it.
LAMBDA_PYTHON ?= python3.12

.PHONY: install dev test lint lock build deploy smoke bench clean

# The locked versions of everything (the server's extras and its clients'), then the server
# and, editable beside it, its clients (SDK, MCP server, user CLI: clients/python), without
# resolving again.
$(STAMP): pyproject.toml clients/python/pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e . -e clients/python
	touch $(STAMP)

install: $(STAMP)

# ARGS=--fresh erases the kept data first; ARGS=--in-memory keeps none (README, local stack).
dev: install
	$(BIN)/python -m engram_local $(ARGS)

test: install
	$(BIN)/pytest

# ruff (lint and format) and mypy, configured in pyproject.toml; cfn-lint for the template.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml

# After changing a dependency in a pyproject.toml: the lock (every extra, every platform), and
# the layer's packages resolved within it for Lambda's Python and architecture, without the
# requirements no function imports (infra/layer-unused.txt); the layer installs that list
# with --no-deps (layers/core/Makefile).
lock: install
	$(BIN)/uv pip compile --quiet pyproject.toml clients/python/pyproject.toml --all-extras \
		--universal --python-version 3.11 --output-file requirements.lock
	$(BIN)/uv pip compile --quiet pyproject.toml --constraints requirements.lock \
		--excludes infra/layer-unused.txt --python-version 3.12 \
		--python-platform aarch64-manylinux_2_34 --output-file layers/core/requirements.txt

# The deployable build: SAM's, then bytecode for Lambda's Python (infra/bytecode.py says why).
build:
	sam build
	$(LAMBDA_PYTHON) infra/bytecode.py .aws-sam/build

# Build, then deploy: guided the first time (it saves the answers in samconfig.toml).
deploy: build
	if [ -f samconfig.toml ]; then sam deploy; else sam deploy --guided; fi

# A short end-to-end check of a running Engram: URL=... KEY=... (or ENGRAM_URL and
# ENGRAM_API_KEY), or STACK_NAME=... (its outputs and key secret); WEBHOOK_RECEIVER=https://...
# adds a test delivery. The key goes through the environment, never the command line.
smoke: install
	@ENGRAM_URL="$(or $(URL),$(ENGRAM_URL))" ENGRAM_API_KEY="$(or $(KEY),$(ENGRAM_API_KEY))" \
	  $(BIN)/engram smoke $(if $(STACK_NAME),--stack-name "$(STACK_NAME)") \
	  $(if $(WEBHOOK_RECEIVER),--webhook-receiver "$(WEBHOOK_RECEIVER)")

bench: install
	$(BIN)/python bench/cold_start.py --quick
	$(BIN)/python bench/embedder.py --quick
	$(BIN)/python bench/search_index.py --quick
	$(BIN)/python bench/speed.py --quick
	$(BIN)/python bench/emulator.py --quick
	$(BIN)/python bench/retrieval.py --quick
	$(BIN)/python bench/context.py --quick

# Not .engram/: the local stack's kept data (`make dev ARGS=--fresh` erases it).
clean:
	rm -rf $(VENV) .pytest_cache .engram/dev.env
