# io-bridge: every target sets up what it needs (virtualenv, Python deps, Kafka jars via Maven).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KAFKA := $(PY) -m service.devkit.kafka_local
KAFKA_PORT ?= 9092
# The test broker gets its own home and port so it never collides with `make kafka-up`.
TEST_KAFKA_PORT ?= 0
PYTEST_ARGS ?=
# `make demo DEMO_ARGS="--tenants 2 --products 20"`; see `io-bridge demo --help`.
DEMO_ARGS ?=

.PHONY: help venv tools lint typecheck arch test test-fast kafka-up kafka-down kafka-status emulator demo bench chaos clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=25.1"
	$(PY) -m pip install -q -c constraints.txt -e ".[emulator,demo]" --group dev
	@touch $(STAMP)

venv: $(STAMP) ## create .venv and install io-bridge with the emulator, demo and dev tools

# Tools the deploy checks use that PyPI does not carry: promtool (Debian's prometheus package)
# and kustomize (kubectl's built-in one, or the Go module when kubectl is missing).
TOOLS_STAMP := $(VENV)/.tools
$(TOOLS_STAMP): $(STAMP)
	@command -v promtool >/dev/null || { \
	  echo "installing promtool (Debian package prometheus)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@command -v kubectl >/dev/null || command -v kustomize >/dev/null || test -x $(VENV)/bin/kustomize || { \
	  echo "installing kustomize into $(VENV)/bin"; \
	  GOBIN=$(CURDIR)/$(VENV)/bin go install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1; }
	@touch $(TOOLS_STAMP)

tools: $(TOOLS_STAMP) ## promtool and kustomize for the deploy checks

lint: $(STAMP) ## ruff + mypy --strict + pip-audit
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
# pip-audit: known vulnerabilities (PyPI's advisory data) in every installed distribution but
# io-bridge itself. A package PyPI cannot answer for is listed as "could not be audited" and does
# not fail the target (docs/SECURITY.md). No vulnerability is ignored: no --ignore-vuln.
	$(VENV)/bin/pip-audit --skip-editable --progress-spinner off

arch: $(STAMP) ## the architecture test (domain imports only the stdlib)
	$(PY) -m pytest -q -p no:cacheprovider tests/unit/test_architecture.py

test: lint arch tools ## lint, typecheck, architecture test, then the whole suite against a real Kafka broker
	@if [ -n "$$KAFKA_BOOTSTRAP_SERVERS" ]; then \
	  $(PY) -m pytest $(PYTEST_ARGS); \
	else \
	  $(KAFKA) --port $(TEST_KAFKA_PORT) --home .kafka/test run -- $(PY) -m pytest $(PYTEST_ARGS); \
	fi

kafka-up: $(STAMP) ## start the local broker on 127.0.0.1:$(KAFKA_PORT) (downloads jars once)
	$(KAFKA) start --port $(KAFKA_PORT) --home .kafka/dev

kafka-down: $(STAMP) ## stop the local broker
	$(KAFKA) stop --home .kafka/dev

kafka-status: $(STAMP) ## is the local broker running?
	$(KAFKA) status --home .kafka/dev

emulator: $(STAMP) ## serve the IO API emulator on 127.0.0.1:8080
	$(VENV)/bin/io-bridge emulator --host 127.0.0.1 --port 8080

demo: $(STAMP) ## the main job end to end: local Kafka + IO API emulator + io-bridge + sample ERP data
	$(VENV)/bin/io-bridge demo $(DEMO_ARGS)

# `make chaos CHAOS_ARGS="--seed 11 --json chaos.json"`; see `python -m tests.chaos --help`.
CHAOS_ARGS ?=
chaos: $(STAMP) ## soak/chaos: 20 SIGKILLs, a broker restart, emulator faults; accounts for every input
	$(PY) -m tests.chaos --kills 20 $(CHAOS_ARGS)

# `make bench BENCH_ARGS=--quick` for the smoke version; `--only ingest,api` for a subset.
BENCH_ARGS ?=
bench: $(STAMP) ## every benchmark on a private broker (.kafka/bench): tables + bench/results.json
	$(PY) -m bench $(BENCH_ARGS)

clean: ## remove the virtualenv, broker state and caches
	-$(KAFKA) stop --home .kafka/dev
	-$(KAFKA) stop --home .kafka/demo
	rm -rf $(VENV) .kafka .pytest_cache .mypy_cache .ruff_cache .hypothesis
