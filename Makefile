# Two commands matter: `make demo` and `make test`. Both create the virtual environment on first use.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo test check benchmark clean

$(BIN)/textfit: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[all,dev]"
	touch $@

demo: $(BIN)/textfit
	$(BIN)/textfit demo

# The gates first (seconds), then the tests: format, lint, the import layers (pyproject.toml's
# [tool.importlinter]) and the documentation site, all offline.
check: $(BIN)/textfit
	$(BIN)/ruff format --check --quiet .
	$(BIN)/ruff check --quiet .
	$(BIN)/lint-imports --no-cache
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# Two pytest processes (pytest-xdist), a test file each at a time: half the suite's time is spent waiting on
# other processes (training workers, torchrun, Ray, the browser), which the other process fills. Each
# takes one PyTorch thread (tests/conftest.py), so the two never fight over the 2 cores.
test: check
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# Not part of the tests: about an hour of CPU; run on a quiet machine (see benchmarks/benchmark.py).
DATA ?= ../shared/data/twitter-financial-news-topic/train.csv
benchmark: $(BIN)/textfit
	$(BIN)/python benchmarks/benchmark.py $(DATA)

clean:
	rm -rf $(VENV) textfit-demo-model textfit-model site
