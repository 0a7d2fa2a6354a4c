# Two commands matter: `make demo` and `make test`. Both create the virtual environment on first use.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo test benchmark clean

$(BIN)/textfit: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[all,dev]"
	touch $@

demo: $(BIN)/textfit
	$(BIN)/textfit demo

test: $(BIN)/textfit
	$(BIN)/python -m pytest -q

# Not part of the tests: minutes to an hour of CPU. Run on a quiet machine (see benchmarks/).
DATA ?= ../shared/data/twitter-financial-news-topic/train.csv
benchmark: $(BIN)/textfit
	$(BIN)/python benchmarks/train_speed.py $(DATA)
	$(BIN)/python benchmarks/fewshot.py $(DATA)
	$(BIN)/textfit train $(DATA) --label-names src/textfit/sample_data/finance_topics_labels.txt --out benchmarks/results/topic-model
	$(BIN)/python benchmarks/inference.py benchmarks/results/topic-model --data $(DATA)

clean:
	rm -rf $(VENV) textfit-demo-model textfit-model
