# funcsim: `make book` builds the site, `make test` runs the tests.
# Both create the virtual environment in .venv first if it is missing or stale.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.funcsim-installed
PROFILE ?= digits
WORKERS ?= 2
# This checkout's library comes first, even where .venv is shared with another.
export PYTHONPATH := $(CURDIR)
# pip's notes about unused local index folders on this kind of machine
PIP_NOISE := grep -v -E "^WARNING: Location .* is ignored" || true

.PHONY: env book test lint clean

env: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing the pinned environment into $(VENV) (a few minutes the first time)"
	@$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt 2>&1 | $(PIP_NOISE)
	@$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation \
		--config-settings editable_mode=compat -e . 2>&1 | $(PIP_NOISE)
	@touch $(STAMP)

book: env
	@start=$$(date +%s); \
	$(PY) -m funcsim_lib.cli book --profile $(PROFILE) --workers $(WORKERS) && \
	echo "make book: $$(( $$(date +%s) - start )) s; open _build/html/index.html"

test: env
	$(PY) -m pytest

lint: env
	$(PY) -m ruff check funcsim_lib tests benchmarks
	$(PY) -m ruff format --check funcsim_lib tests benchmarks

clean:
	rm -rf _build
