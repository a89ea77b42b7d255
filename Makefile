# steerscope: the README's two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DATA   := $(or $(STEERSCOPE_DATA),$(CURDIR)/data-cache)
export STEERSCOPE_DATA := $(DATA)

.PHONY: setup demo ui test lint typecheck data chromium bench figures clean

setup: $(STAMP)

# torch is pinned and installed first: an unpinned one pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test,nion]"
	touch $(STAMP)

# The real EDX test files from the hyperspy 1.7.6 wheel (GPL-3.0), into $(DATA).
data: $(STAMP)
	$(BIN)/steerscope datasets fetch

# Debian's Chromium for the browser tests; Playwright drives it, no browser download.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium could not be installed: browser tests will be skipped"; }

demo: $(STAMP)
	$(BIN)/steerscope demo

ui: $(STAMP)
	$(BIN)/steerscope ui

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) data chromium lint typecheck
	$(BIN)/python -m pytest

bench: $(STAMP) data
	$(MAKE) -C bench all

# The docs' figures: dataset overviews, and UI screenshots in headless Chromium.
figures: $(STAMP) data chromium
	$(BIN)/python docs/make_dataset_figures.py
	$(BIN)/python docs/make_ui_screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
