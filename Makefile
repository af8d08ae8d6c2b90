# One command per job; each sets up what it needs first (a venv in .venv).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint install install-dev browser npm scaleout-tools index serve clean

## run: install, index ./corpus, and serve it with gunicorn on http://$(HOST):$(PORT)
run: install
	$(BIN)/searchsvc index || [ $$? -eq 3 ]
	$(BIN)/searchsvc serve --host $(HOST) --port $(PORT)

## test: install with the test tools, Chromium, axe-core, nginx and rsync, lint, then run every test
test: install-dev browser npm scaleout-tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'

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

lint: install-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) node_modules index/g* index/CURRENT .pytest_cache .ruff_cache
