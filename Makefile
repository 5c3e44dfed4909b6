# Entry points for a newcomer (see README):
#   make classify [FOLDER=path/to/music]   set up, then classify FOLDER (default: the demo clips)
#   make serve [FOLDER=...] [DB=...]       set up, classify FOLDER once, open the web UI on it
#   make test                              set up, then lint and run the test suite
VENV   ?= .venv
PYTHON ?= python3
FOLDER ?= demo
DB     ?=
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

SERVE_DB = $(or $(DB),.demo-library.sqlite)
PORT   ?= 8750
CHROMIUM = /usr/bin/chromium

.PHONY: setup classify serve browser test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: the CPU build, never a CUDA one pulled in by a looser requirement
	$(PY) -m pip install -q -c constraints.txt "torch==2.13.0"
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,dask,web,plex]"
	touch $(STAMP)

setup: $(STAMP)

classify: setup
	$(VENV)/bin/reclass classify "$(FOLDER)" $(if $(DB),--db "$(DB)",)

# The web UI on a library: classify FOLDER into the database the first time, then serve
# it on http://127.0.0.1:$(PORT)/ (Ctrl-C stops).
serve: setup
	@test -f "$(SERVE_DB)" || $(VENV)/bin/reclass classify "$(FOLDER)" --db "$(SERVE_DB)"
	$(VENV)/bin/reclass serve --db "$(SERVE_DB)" --port $(PORT)

# The browser tests drive Debian's chromium (Playwright for Python comes with the dev
# extra; it never downloads a browser). Installed here when missing and we are root on
# Debian, as CI is; elsewhere the browser tests skip and say why.
browser:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium is missing (apt-get install chromium): the browser tests will skip"; fi

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks scripts

test: lint browser
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
