# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: run test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/dabyl run --config config.toml

lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check controller drivers audio tui tests

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .dabyl
