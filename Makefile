# The no-Docker path: everything runs on loopback from this checkout's own files.
# docker-compose.yml describes the production shape with official images.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help install lock up down status demo test test-unit lint bench clean

help:
	@echo "make demo    install, start the local stack, run a campaign, print the report"
	@echo "make test    the whole test suite (starts its own stack on other ports)"
	@echo "make up | down | status   the local stack (Kafka, FerretDB, four services)"
	@echo "make lint    ruff and mypy"
	@echo "make lock    requirements.lock from pyproject.toml (after changing a dependency)"

# Every package at the version and with the hashes requirements.lock names (runtime and
# dev), then the project itself without resolving anything again.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --require-hashes -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

# After a change of pyproject.toml's dependencies: pins every package (with its hashes)
# for Python 3.11 on every platform. tests/unit/platform/test_dependencies.py fails until it is run.
lock: $(STAMP)
	$(PY) -m uv pip compile pyproject.toml --extra dev --generate-hashes --universal \
	  --python-version 3.11 --quiet -o requirements.lock

install: $(STAMP)
	$(PY) -m devstack install

up: install
	$(PY) -m devstack up

down: $(STAMP)
	$(PY) -m devstack down
	@if [ -d .local/demo/run ]; then STACK_DIR=.local/demo $(PY) -m devstack down; fi

status: $(STAMP)
	$(PY) -m devstack status

# The demo runs its own season on a fresh stack in .local/demo (default ports).
demo: install
	STACK_DIR=.local/demo EMULATION_CLOCK_CONTROL=true $(PY) -m devstack.demo

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

test: install lint
	$(PY) -m pytest

# The benchmarks on a stack of their own (ports from BENCH_PORT_BASE, default 26000);
# writes docs/benchmarks.md. About 10 minutes.
bench: install
	$(PY) -m bench

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit

clean: down
	rm -rf .local/data .local/logs .local/run .local/test
