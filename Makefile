# One command per job; each sets up what it needs first (a venv in .venv).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint install install-dev browser index serve clean

## run: install, index ./corpus, and serve it with gunicorn on http://$(HOST):$(PORT)
run: install
	$(BIN)/searchsvc index || [ $$? -eq 3 ]
	$(BIN)/searchsvc serve --host $(HOST) --port $(PORT)

## test: install with the test tools and Chromium, lint, then run every test
test: install-dev browser
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

lint: install-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) index/g* index/CURRENT .pytest_cache .ruff_cache
