# Quick start: `make demo` (set up + run the main job on the bundled sample clips)
#              `make test` (set up + run the whole test suite).
# Both create or reuse the virtual environment at .venv/ (idempotent).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: venv demo test lint clean-venv

venv:
	@bash tools/install/setup_venv.sh

demo: venv
	$(PY) tools/run_demo.py $(DEMO_ARGS)

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(PY) -m flake8 mmpose_stmamba tools tests configs projects

clean-venv:
	rm -rf $(VENV)
