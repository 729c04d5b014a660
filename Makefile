# 人才服务助手 — build, run and test. Every target sets up what it needs on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODEL := models/talent-assistant.tar.gz
# The web widget (web/widget, npm lockfile) is built into the web server's static files
# (defined up here: `run` below needs it as a prerequisite).
WIDGET := bot/web/static/widget/chat.js
WIDGET_INPUTS := web/widget/package.json web/widget/package-lock.json web/widget/vite.config.js $(wildcard web/widget/src/*)
# Rasa's telemetry stays off everywhere: a government deployment sends nothing to third parties.
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONDONTWRITEBYTECODE := 1
# Rasa's dependencies print pages of deprecation warnings that hide real output.
export PYTHONWARNINGS := ignore

# Everything whose change needs a new model.
TRAIN_INPUTS := config.yml domain.yml $(shell find data policies_kb bot/nlu bot/kb bot/text -type f \( -name '*.yml' -o -name '*.py' \) 2>/dev/null)

.PHONY: help setup run run-scaled test-scaled servers train lint format test unit validate conversations integration browser widget eval bench load constraints clean

help:
	@echo "make run    — set up, train if needed, start Rasa (5005), actions (5055)"
	@echo "make test   — set up and run every check CI runs"
	@echo "make run-scaled  — the scaled deployment on loopback (PostgreSQL, Redis, nginx, 2 replicas)"
	@echo "make test-scaled — its fault tests (CI runs them beside make test)"
	@echo "make train | lint | eval | bench | load | clean"

$(STAMP): requirements/requirements.txt requirements/constraints.txt pyproject.toml
	@PYBIN=$$(scripts/find-python.sh) && \
	  { [ -x $(PY) ] || "$$PYBIN" -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade "pip<25" "setuptools<71" "wheel==0.45.1"
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/requirements.txt -c requirements/constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

setup: $(STAMP)

$(MODEL): $(TRAIN_INPUTS) | $(STAMP)
	$(PY) -m bot train

train: $(STAMP)
	$(PY) -m bot train

run: $(STAMP) $(MODEL) $(WIDGET)
	$(PY) -m bot run

# The scaled deployment's servers come from Debian's packages (installed here when missing).
servers:
	@scripts/ensure-servers.sh

run-scaled: $(STAMP) $(MODEL) $(WIDGET) servers
	$(PY) -m bot run-scaled

test-scaled: $(STAMP) $(MODEL) $(WIDGET) servers
	$(PY) -m pytest -q tests/scaled

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

validate: $(STAMP)
	$(PY) -m bot kb check
	$(PY) -m rasa data validate --fail-on-warnings --quiet

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

conversations: $(STAMP) $(MODEL)
	$(PY) -m bot test-conversations

# `npm install --no-save` installs exactly the locked versions. (`npm ci` refuses this lockfile:
# with the machines' npm settings the lock does not list the other platforms' optional rollup
# binaries, which `npm ci` wants to see.)
$(WIDGET): $(WIDGET_INPUTS)
	cd web/widget && npm install --no-save --no-audit --no-fund --loglevel=error && npm run build --silent

widget: $(WIDGET)

# The browser tests check the widget's pages with axe-core (a devDependency of web/widget).
AXE := web/widget/node_modules/axe-core/axe.min.js
$(AXE): web/widget/package.json web/widget/package-lock.json
	cd web/widget && npm install --no-save --no-audit --no-fund --loglevel=error
	@touch $@

# Browser tests use Debian's chromium (no browser download): installed here when missing.
browser: $(STAMP)
	@scripts/ensure-chromium.sh

integration: $(STAMP) $(MODEL) $(WIDGET) $(AXE) browser
	$(PY) -m pytest -q tests/integration

test: lint validate unit conversations integration

eval: $(STAMP) $(MODEL)
	$(PY) -m bot eval

bench: $(STAMP) $(MODEL) $(WIDGET) browser
	$(PY) -m bot bench

# Locust, headless, loopback only: 200 conversations for 60 s against the single-process default,
# then against the scaled deployment (~10 minutes); figures in var/bench/load.json.
load: $(STAMP) $(MODEL) $(WIDGET) servers
	$(PY) -m bot load

# Re-pin every Python package after a change of requirements/requirements.txt.
constraints: $(STAMP)
	{ sed -n '1,2p' requirements/constraints.txt; \
	  $(PY) -m pip freeze --exclude-editable | sed '/^talent-assistant/d'; } > requirements/constraints.new
	mv requirements/constraints.new requirements/constraints.txt

clean:
	rm -rf models results .pytest_cache .ruff_cache
