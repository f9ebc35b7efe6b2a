# The README's two commands: `make book` builds the course, `make test` checks everything.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JB     := $(VENV)/bin/jupyter-book
BUILD  := $(CURDIR)/_build

# OpenMP threads that wait passively: when the notebook kernels and other jobs share a small machine,
# PyTorch's busy-waiting threads otherwise slow training several-fold. Set before torch is imported.
export OMP_WAIT_POLICY ?= PASSIVE
# Chapters reuse what an earlier chapter trained in the same build (facelab/runs.py); emptied per build.
export FACELAB_RUNS_DIR := $(BUILD)/runs

.PHONY: book test setup browser unit notebooks build book-tests clean clean-book

## setup: create .venv and install requirements.txt (only when they changed since the last install)
setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

## browser: Debian's headless Chromium for the browser test (installed with apt when missing)
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  echo "Installing Debian's chromium for the browser test"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium >/dev/null || { \
	    $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	    $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium >/dev/null; }; }

## book: build the HTML book, executing every chapter (quick profile on CPU)
book: $(STAMP) build
	@echo ""
	@echo "The book is at $(BUILD)/html/index.html"

build: $(STAMP)
	rm -rf $(FACELAB_RUNS_DIR)
	$(JB) build . --warningiserror --keep-going

## test: unit tests; every chapter under nbval (its outputs feed the book); the book built with warnings
## as errors; every page opened in headless Chromium
test: $(STAMP) browser
	rm -rf $(FACELAB_RUNS_DIR)
	$(PY) -m pytest tests --ignore=tests/test_book_build.py --ignore=tests/test_book_browser.py --durations=10
	FACELAB_NB_CACHE=$(BUILD)/.jupyter_cache $(PY) -m pytest --nbval-lax chapters --durations=10
	FACELAB_BOOK_BUILD=1 FACELAB_BOOK_HTML=$(BUILD)/html $(PY) -m pytest tests/test_book_build.py tests/test_book_browser.py
	@echo "make test: all checks passed"

unit: $(STAMP)
	$(PY) -m pytest tests --ignore=tests/test_book_build.py --ignore=tests/test_book_browser.py

notebooks: $(STAMP)
	$(PY) -m pytest --nbval-lax chapters

## book-tests: build the book with warnings as errors, then the browser test
book-tests: $(STAMP) browser
	FACELAB_BOOK_BUILD=1 FACELAB_BOOK_HTML=$(BUILD)/html $(PY) -m pytest tests/test_book_build.py tests/test_book_browser.py

clean-book:
	rm -rf _build

clean: clean-book
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis
