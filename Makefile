# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install test-deps run dev serve serve-clean test bench lint clean

$(STAMP): setup.py pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Materialise several days of every table on local disk against the built-in simulator.
run: $(STAMP)
	@mkdir -p $(DAGSTER_HOME)
	$(BIN)/python -m lbh_platform_devkit.demo

## The Dagster UI with the daemon (schedules, sensors, backfills) and the simulator.
dev: $(STAMP)
	@mkdir -p $(DAGSTER_HOME)
	$(BIN)/python -m lbh_platform_devkit.dev

## The production topology on this machine: a local PostgreSQL (Debian's postgresql package),
## the code server, webserver and daemon started with deploy/docker-compose.yaml's commands.
## Ctrl-C stops everything; state is kept in .serve/ (`make serve-clean` removes it).
serve: $(STAMP)
	$(BIN)/python -m lbh_platform_devkit.serve

serve-clean:
	rm -rf .serve

## System packages the tests need (Chromium for the UI test, Java 17 for Spark), if missing.
test-deps:
	bash scripts/install-test-deps.sh

test: $(STAMP) test-deps
	$(BIN)/ruff check lbh_platform lbh_platform_devkit lbh_platform_tests bench
	$(BIN)/pytest -q -p no:cacheprovider

## Benchmarks: prints a table and writes bench/results.json (about 27 minutes; --quick: about 6).
bench: $(STAMP) test-deps
	$(BIN)/python bench/run.py $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check lbh_platform lbh_platform_devkit lbh_platform_tests

clean:
	rm -rf data .dagster_home
