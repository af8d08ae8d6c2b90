# One command per job; each sets up what it needs first (a venv in .venv).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run HOST=… PORT=…` overrides where it listens; unset, `serve` takes SEARCHSVC_HOST and
# SEARCHSVC_PORT from the environment (default 127.0.0.1:8000), as the README says ("Two commands").
HOST ?=
PORT ?=
# Every Python package make installs (the dependencies, the dev extra, pip itself and the
# build backend) at the version this file pins; pyproject.toml keeps the ranges for people
# who install the package. `make lock` updates it, `make lock-upgrade` moves it to the newest
# versions the ranges allow.
LOCK := constraints.txt
PIP_INSTALL := $(BIN)/pip install --quiet --constraint $(LOCK)

.PHONY: run test lint install install-dev lock lock-upgrade browser npm scaleout-tools bench-tools index serve clean

## run: install, index ./corpus, and serve it with gunicorn (http://127.0.0.1:8000 unless
## HOST, PORT or SEARCHSVC_HOST, SEARCHSVC_PORT say otherwise)
run: install
	$(BIN)/searchsvc index || [ $$? -eq 3 ]
	$(BIN)/searchsvc serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

## test: install with the test tools, Chromium, axe-core, nginx and rsync, lint, then run every test
test: install-dev browser npm scaleout-tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# pip first (the locked one reads --build-constraint), then the package with its locked
# dependencies, built by the locked setuptools.
install: $(BIN)/python
	$(PIP_INSTALL) pip
	$(PIP_INSTALL) --build-constraint $(LOCK) -e .

install-dev: $(BIN)/python
	$(PIP_INSTALL) pip
	$(PIP_INSTALL) --build-constraint $(LOCK) -e '.[dev]'

## lock: pin anew what pyproject.toml asks for (after adding or changing a dependency),
## keeping every pin that still fits; then commit constraints.txt and run `make install-dev`
# The lock holds the dependencies, the dev and bench extras for every platform and Python from
# 3.11 (uv's universal resolution), plus pip, the build backend of [build-system] and uv itself.
lock: $(BIN)/python
	$(PIP_INSTALL) pip uv
	{ $(BIN)/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")'; \
	  echo pip; echo uv; } \
	| $(BIN)/uv pip compile --quiet pyproject.toml - --extra dev --extra bench --universal \
	    --python-version 3.11 --custom-compile-command 'make lock' --output-file $(LOCK) $(LOCK_FLAGS)

## lock-upgrade: the same, moving every pin to the newest version the ranges allow
lock-upgrade:
	$(MAKE) lock LOCK_FLAGS=--upgrade

# The browser tests drive Debian's Chromium (no browser download: this is what users have).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "install Debian's chromium (apt-get install chromium) for the browser tests" >&2; exit 1; fi; \
	fi

# The scale-out test (tests/test_scale_out.py) runs Debian's nginx-light and rsync.
scaleout-tools:
	@missing=""; \
	[ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	command -v rsync >/dev/null || missing="$$missing rsync"; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "install Debian's$$missing (apt-get install$$missing) for the scale-out test" >&2; exit 1; fi; \
	fi

# axe-core, which the browser tests inject into pages, pinned by package-lock.json.
npm:
	@if ! command -v npm >/dev/null; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; \
	  else echo "install node and npm (apt-get install npm) for the browser tests" >&2; exit 1; fi; \
	fi
	npm ci --no-audit --no-fund --loglevel=error

## bench-tools: Debian's wrk, which bench/load.py drives (without it, Python threads), and the
## bench extra (tantivy-py, a reference engine of bench/search_latency.py and bench/indexing.py)
bench-tools: $(BIN)/python
	$(PIP_INSTALL) pip
	$(PIP_INSTALL) --build-constraint $(LOCK) -e '.[bench]'
	@if ! command -v wrk >/dev/null; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else echo "install Debian's wrk (apt-get install wrk) for bench/load.py" >&2; exit 1; fi; \
	fi

lint: install-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) node_modules index/g* index/CURRENT index/analytics.sqlite3* .pytest_cache .ruff_cache
