# The two commands: `make demo` and `make test`. Both do all set-up themselves.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup system venv lock demo test unit api e2e lint fmt stack-up stack-down clean report

setup: system venv

system:
	@bash scripts/bootstrap

venv: $(STAMP)

$(STAMP): pyproject.toml requirements-dev.lock
	@bash scripts/venv
	@touch $(STAMP)

# Regenerate requirements.lock and requirements-dev.lock from pyproject.toml (ARGS="--upgrade" for newest).
lock:
	@bash scripts/lock $(ARGS)

demo: setup
	@bash scripts/demo

test: setup
	@bash scripts/test

unit: venv
	$(PY) -m pytest -q tests/unit

# The HTTP API in-process (aiohttp test client, fakes behind the services): seconds.
api: venv
	$(PY) -m pytest -q tests/api

e2e: setup
	$(PY) -m pytest -q tests/e2e

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Figures of the demo stack's database: make report ARGS="--from 2026-11-22 --by topic --chart t.png"
report: venv
	@eval "$$(scripts/stack env)" && $(VENV)/bin/ctoengine report $(ARGS)

stack-up: setup
	@scripts/stack up

stack-down:
	@scripts/stack down

clean: stack-down
	rm -rf run
