# The README's two commands: `make book` builds the course, `make test` checks everything.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JB     := $(VENV)/bin/jupyter-book

# OpenMP threads that wait passively: when the notebook kernels and other jobs share a small machine,
# PyTorch's busy-waiting threads otherwise slow training several-fold. Set before torch is imported.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: book test setup unit notebooks build clean clean-book

## setup: create .venv and install requirements.txt (only when they changed since the last install)
setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

## book: build the HTML book, executing every chapter (quick profile on CPU)
book: $(STAMP) build
	@echo ""
	@echo "The book is at $(CURDIR)/_build/html/index.html"

build: $(STAMP)
	$(JB) build .

## test: unit tests, every chapter under nbval, then the book build
test: $(STAMP)
	$(PY) -m pytest tests chapters --nbval-lax --durations=15
	$(MAKE) build
	@echo "make test: all checks passed"

unit: $(STAMP)
	$(PY) -m pytest tests

notebooks: $(STAMP)
	$(PY) -m pytest --nbval-lax chapters

clean-book:
	rm -rf _build

clean: clean-book
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis
