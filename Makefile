# funcsim: `make book` builds the site, `make test` runs the tests, `make lab`
# opens the explorer in JupyterLab. Each first creates the virtual environment
# in .venv and installs MathJax from npm into node_modules, if missing or stale.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.funcsim-installed
# npm ci writes this file last, so it marks a complete node_modules.
NPM_STAMP := node_modules/.package-lock.json
PROFILE ?= digits
WORKERS ?= 2
# This checkout's library comes first, even where .venv is shared with another.
export PYTHONPATH := $(CURDIR)
# pip's notes about unused local index folders on this kind of machine
PIP_NOISE := grep -v -E "^WARNING: Location .* is ignored" || true

.PHONY: env assets book test lab lint clean

env: $(STAMP)

assets: $(NPM_STAMP)

$(NPM_STAMP): package.json package-lock.json
	@echo "installing MathJax from npm into node_modules (package-lock.json)"
	@npm ci --no-audit --no-fund --loglevel=error

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing the pinned environment into $(VENV) (a few minutes the first time)"
	@$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt 2>&1 | $(PIP_NOISE)
	@$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation \
		--config-settings editable_mode=compat -e . 2>&1 | $(PIP_NOISE)
	@touch $(STAMP)

book: env assets
	@start=$$(date +%s); \
	$(PY) -m funcsim_lib.cli book --profile $(PROFILE) --workers $(WORKERS) && \
	echo "make book: $$(( $$(date +%s) - start )) s; open _build/html/index.html"

test: env assets
	$(PY) -m pytest

# The explorer reads the default study; `make book` or `funcsim train` makes it.
lab: env
	$(VENV)/bin/jupyter lab notebooks/explorer.ipynb

# benchmarks/ is linted where a checkout has it.
LINTED := $(wildcard funcsim_lib tests benchmarks)

lint: env
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)

clean:
	rm -rf _build
