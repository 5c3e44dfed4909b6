# Two entry points for a newcomer (see README):
#   make classify [FOLDER=path/to/music]   set up, then classify FOLDER (default: the demo clips)
#   make test                              set up, then lint and run the test suite
VENV   ?= .venv
PYTHON ?= python3
FOLDER ?= demo
DB     ?=
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: setup classify test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: the CPU build, never a CUDA one pulled in by a looser requirement
	$(PY) -m pip install -q -c constraints.txt "torch==2.13.0"
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,dask,backbones]"
	touch $(STAMP)

setup: $(STAMP)

classify: setup
	$(VENV)/bin/reclass classify "$(FOLDER)" $(if $(DB),--db "$(DB)",)

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks scripts

test: lint
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
