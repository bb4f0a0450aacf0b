# jobyard: `make run` starts everything, `make test` runs the whole suite.
# Every target sets AIRFLOW_CONFIG to ./airflow.cfg and AIRFLOW_HOME to .state/airflow
# (through tools/devenv.py); nothing is written to ~/airflow.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXECUTOR ?= local
SCALE ?= 1
export JOBYARD_ROOT := $(CURDIR)
export AIRFLOW_CONFIG := $(CURDIR)/airflow.cfg
export AIRFLOW_HOME ?= $(CURDIR)/.state/airflow

.PHONY: install run stop test system-tools lint migrate seed dag-table constraints bench clean

install: $(STAMP)

# Reinstalls only when a requirements or constraints file changed.
$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@touch $@

run: $(STAMP)
	$(PY) -m tools.run --executor $(EXECUTOR)

stop: $(STAMP)
	$(PY) -m tools.run stop

# FAST=1 skips the minutes-long tests while developing: the soak (tests/soak, marker `soak`)
# and the browser tests (marker `browser`). CI (.ci/run) never sets it and runs them all.
FAST_MARKERS := not soak and not browser
test: $(STAMP) system-tools
	$(VENV)/bin/ruff check .
	@if [ "$(FAST)" = 1 ]; then echo "FAST=1: skipping the soak and browser tests (-m '$(FAST_MARKERS)'); CI runs them"; fi
	$(PY) -m pytest $(if $(filter 1,$(FAST)),-m "$(FAST_MARKERS)") $(PYTEST_ARGS)

# What the tests need beside the venv: Debian's Chromium (the browser tests drive it with
# Playwright; no browser download works here), curl and jq (the README's REST commands run
# literally). Installed when missing and we are root on Debian; else a message says how.
SYSTEM_TOOLS := chromium curl jq
system-tools:
	@missing=""; for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing (apt-get)"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "make test needs$$missing: sudo apt-get install$$missing (Debian/Ubuntu), then re-run"; exit 1; fi; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff check --select AIR --preview dags include plugins

migrate: $(STAMP)
	$(PY) -m tools.devenv migrate

# Replaces the demo data (`make run` seeds only an empty database); RESET=1 first empties every
# table of the domains, job results included.
seed: $(STAMP)
	$(PY) -m tools.devenv seed --scale $(SCALE) $(if $(filter 1,$(RESET)),--reset)

# Regenerates the DAG table of README.md from the DagBag (a test checks it is current).
dag-table: $(STAMP)
	$(PY) -m tools.dag_table --write README.md

# Re-freezes constraints.txt from a fresh resolve of the requirements (needs PyPI).
constraints:
	rm -rf .state/constraints-venv
	$(PYTHON) -m venv .state/constraints-venv
	.state/constraints-venv/bin/pip install --quiet -r requirements-dev.txt
	(echo "# Frozen from a working resolve of requirements-dev.txt on Python 3.11 (pip freeze)."; \
	 echo "# Regenerate: make constraints"; .state/constraints-venv/bin/pip freeze) > constraints.txt

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf .state .pytest_cache .ruff_cache
