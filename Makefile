# Two commands for a fresh machine: `make run` and `make test`.
# Another Python: `make test PYTHON=python3.13 VENV=.venv-3.13`; a part of the suite:
# `make test TESTS="tests/test_audio.py tests/test_config.py"`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
TESTS  ?=
# The tests every supported Python must pass even where the full suite runs on one.
CORE_TESTS = tests/test_audio.py tests/test_voices.py tests/test_playback.py \
             tests/test_config.py tests/test_cli.py tests/test_service.py

.PHONY: run test test-core lint clean

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
	$(BIN)/python -m pytest $(TESTS)

test-core: $(STAMP)
	$(BIN)/python -m pytest $(CORE_TESTS)

clean:
	rm -rf $(VENV) .venv-3.* .dabyl
