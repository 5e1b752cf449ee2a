# Two entry points: `make demo` (main job on the built-in data) and `make test`.
# Both create .venv, install torch first (TORCH_SPEC, the version this project is tested with:
# an unpinned torch would pull whatever is newest), then the project with extras. PyPI's Linux
# torch wheels bring gigabytes of CUDA libraries; TORCH_INDEX=https://download.pytorch.org/whl/cpu
# installs the CPU build instead (where a local CPU wheel is configured, as on the project's CI
# machine, the default takes it).
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
TORCH_PIP_ARGS := $(if $(TORCH_INDEX),--index-url "$(TORCH_INDEX)")
BIN := $(VENV)/bin
DEMO_ARGS ?=

.PHONY: setup demo test lint package-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[dev]"

demo: setup
	$(BIN)/epvlm demo $(DEMO_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# the wheel, installed outside the checkout, must run the demo and the simulator
package-check: setup
	PYTHON="$(PYTHON)" BUILD_PIP="$(BIN)/pip" TORCH_SPEC="$(TORCH_SPEC)" TORCH_INDEX="$(TORCH_INDEX)" \
		./tools/check_package.sh

# two pytest workers (pytest-xdist): about a third off the suite's time on two cores. Tests that
# send signals on a timer share one xdist_group, so they run one at a time on one worker.
PYTEST_WORKERS ?= 2

test: lint package-check
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

clean:
	rm -rf $(VENV) demo-out build .pytest_cache .ruff_cache
