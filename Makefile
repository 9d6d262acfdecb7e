# The no-Docker path: everything runs on loopback from this checkout's own files.
# docker-compose.yml describes the production shape with official images.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help install up down status demo test test-unit lint bench clean

help:
	@echo "make demo    install, start the local stack, run a campaign, print the report"
	@echo "make test    the whole test suite (starts its own stack on other ports)"
	@echo "make up | down | status   the local stack (Kafka, FerretDB, four services)"
	@echo "make lint    ruff and mypy"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

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
