# Halte: the verbs people use. `make run` starts everything; `make test` proves it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed
MEMBERS := shared rules services/campaign-api services/inbound services/suppression services/dispatcher services/notifier
PYTEST := $(PY) -m pytest
# mypy covers the plumbing and every service's pure domain.
TYPED := shared/src rules/src $(wildcard services/*/src/*/domain)

.PHONY: install run demo test lint fmt unit integration e2e bench clean system-deps

$(STAMP): requirements.txt requirements-bootstrap.txt $(addsuffix /pyproject.toml,$(MEMBERS))
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-bootstrap.txt
	$(UV) pip install --quiet --python $(PY) --require-hashes -r requirements.txt
	$(UV) pip install --quiet --python $(PY) --no-deps --no-build-isolation $(addprefix -e ,$(MEMBERS))
	touch $(STAMP)

# checkov pins libraries (packaging) older than the project's: it gets a venv of its own.
CHECKOV := $(VENV)/checkov/.installed
$(CHECKOV): deploy/tests/requirements-checkov.txt | $(STAMP)
	test -x $(VENV)/checkov/bin/python || $(PYTHON) -m venv $(VENV)/checkov
	$(UV) pip install --quiet --python $(VENV)/checkov/bin/python --require-hashes -r deploy/tests/requirements-checkov.txt
	touch $(CHECKOV)

install: $(STAMP)

system-deps:
	bash scripts/system-deps.sh

run: install
	$(PY) -m halte_shared.stack run --data-dir .halte

demo: install
	$(PY) demo/journey.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(TYPED)

fmt: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

unit: install
	$(PYTEST) -q shared/tests/unit rules/tests tests/agreement services/*/tests/unit

integration: install
	$(PYTEST) -q shared/tests/integration services/*/tests/integration

e2e: install system-deps
	$(PYTEST) -q tests/e2e

test: install $(CHECKOV) system-deps lint
	$(PYTEST) -q shared/tests rules/tests tests/agreement services/*/tests deploy/tests tests/e2e

# Every benchmark beside its reference, then one Markdown table and chart in bench/results/.
bench: install
	$(PY) bench/report.py --timeout 1800

clean:
	rm -rf $(VENV) .halte .pytest_cache .mypy_cache .ruff_cache
