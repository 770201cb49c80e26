# Two commands for a new user:  make run   and   make test
# Each sets up what it needs (a virtual environment in .venv, the database, demo data).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := wsgi
# Links in emails are built from this; it follows HOST and PORT unless set.
HEARTH_BASE_URL ?= http://$(HOST):$(PORT)

.PHONY: run test setup lint format bench bench-pages screenshots clean-db

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Hearth needs Python 3.11 or newer (set PYTHON=python3.12, say).")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

instance/secret_key:
	@mkdir -p instance
	@$(PYTHON) -c 'import secrets; print(secrets.token_hex(32))' > $@
	@chmod 600 $@

## Set up the embedded default: SQLite in instance/, the demo course and demo accounts.
setup: $(VENV)/.installed instance/secret_key
	HEARTH_ENV=development $(BIN)/flask db upgrade
	HEARTH_ENV=development $(BIN)/flask demo seed

## Run the forum at http://$(HOST):$(PORT) with the email worker beside it.
run: setup
	@echo "Emails are written to instance/mail/ and listed at http://$(HOST):$(PORT)/staff/mail"
	@export HEARTH_ENV=development HEARTH_BASE_URL=$(HEARTH_BASE_URL); \
	$(BIN)/flask notifications worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/flask run --host $(HOST) --port $(PORT)

## Lint, type-check, then the whole test suite (browser tests need Debian's chromium package).
test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Benchmarks print ratios against a baseline measured in the same run.
bench: $(VENV)/.installed
	$(BIN)/python -m tests.bench
	$(BIN)/python -m tests.bench.pages $(BENCH_PAGES_ARGS)

## Pages at scale: gunicorn + wrk against a bare Flask ceiling (BENCH_PAGES_ARGS="--help").
bench-pages: $(VENV)/.installed
	$(BIN)/python -m tests.bench.pages $(BENCH_PAGES_ARGS)

## The README's screenshots, from the demo data in a throwaway instance (needs chromium).
screenshots: $(VENV)/.installed
	$(BIN)/python scripts/screenshots.py

clean-db:
	rm -f instance/hearth.sqlite3 instance/hearth.sqlite3-wal instance/hearth.sqlite3-shm
