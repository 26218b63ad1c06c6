# The only interface: the same targets run on a laptop, in .ci/run and in GitHub Actions.
#   make demo   every use case's real state machine, offline (no AWS account, no Docker)
#   make test   the four-stage gate: lint, unit, guard, security
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION := 1.170.0
PIP_VERSION := 26.3

USE_CASES := $(patsubst %/template.yaml,%,$(wildcard */template.yaml))
TEMPLATES := $(wildcard */template.yaml) $(wildcard shared/cfn/*.yaml)

# Bounded, derandomized Hypothesis runs unless asked otherwise (make unit HYPOTHESIS_PROFILE=dev).
export HYPOTHESIS_PROFILE ?= ci
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export SAM_CLI_TELEMETRY := 0

.PHONY: help setup test lint unit guard security build demo bench clean distclean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(VENV)/.installed ## project venv (.venv) with the pinned dev dependencies; idempotent

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet pip==$(PIP_VERSION)
	$(PY) -m pip install --quiet --group dev
	touch $@

# aws-sam-cli pins click and friends, so it lives in its own venv.
$(SAM_VENV)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)
	touch $@

test: setup ## the whole four-stage gate, with a stage table at the end
	$(PY) -m scripts.ci_gate lint unit guard security

lint: setup ## stage 1: cfn-lint on every template (errors fail), ruff, mypy
	$(VENV)/bin/cfn-lint --non-zero-exit-code error -- $(TEMPLATES)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

unit: setup ## stage 2: pytest + Hypothesis with coverage >= 80 % over shared/ and */src
	$(PY) -m pytest --cov --cov-report=term --cov-report=xml:coverage.xml

guard: setup ## stage 3: cfn-guard rules on every template after the SAM transform
	$(PY) -m scripts.guard

security: setup ## stage 4: bandit, then pip-audit (skipped when its service is unreachable)
	$(PY) -m bandit --quiet -c pyproject.toml -r shared sandbox scripts $(addsuffix /src,$(USE_CASES))
	$(PY) -m scripts.dependency_audit

build: $(SAM_VENV)/.installed ## sam build of every use case (layer built for python3.13 x86_64)
	@for use_case in $(USE_CASES); do \
		echo "=== sam build $$use_case"; \
		(cd "$$use_case" && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" "$(CURDIR)/$(SAM)" build --parallel); \
	done

demo: setup ## run every use case end to end in the offline sandbox and print a summary
	$(PY) -m sandbox demo

bench: setup ## benchmarks; JSON results in benchmarks/results/
	$(PY) -m benchmarks

clean: ## build outputs, caches and results (keeps the venvs)
	rm -rf .aws-sam */.aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis htmlcov \
		.coverage coverage.xml benchmarks/results
	find . -path ./$(VENV) -prune -o -path ./$(SAM_VENV) -prune -o -name __pycache__ -type d -print0 \
		| xargs -0 rm -rf

distclean: clean ## also remove both venvs
	rm -rf $(VENV) $(SAM_VENV)
