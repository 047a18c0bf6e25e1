# The two commands: `make demo` runs the stack, `make test` runs the whole suite. Both set up what they need.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test lint demo bench clean

setup:
	bash scripts/setup.sh

lint: setup
	$(VENV)/bin/ruff check tonghu tests

test: setup lint
	$(VENV)/bin/pytest

demo: setup
	$(PY) -m tonghu demo

bench: setup
	$(PY) -m tonghu bench ingest --json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
