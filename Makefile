# qchaos-hub: `make evaluate` (main job, PRESET=mini|paper), `make test`, `make bench`.
PYTHON ?= python3
VENV   ?= .venv
PRESET ?= mini
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test test-fast evaluate generate bench clean

# the checkout's jobs keep their datasets and checkpoints in ./hub (the package's default is ~/.cache/qchaos/hub)
evaluate generate bench: export QCHAOS_HUB ?= $(CURDIR)/hub

install: $(STAMP)

# torch is pinned to the local CPU wheel first, so the package's `torch>=2.2` needs nothing more
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

# the suite includes the wheel check (tests/test_frontdoor.py): dist wheel built, installed --no-deps into a
# throwaway venv that reuses .venv's dependencies, README quick start run from an empty directory, offline
test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# the edit-test loop: everything but the longest physics checks (marked slow; `make test` runs them too)
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

generate: install
	$(BIN)/qchaos generate twobody --preset $(PRESET)
	$(BIN)/qchaos generate tribaker --preset $(PRESET)

# the paper preset takes hours: it resumes (finished experiments, training seeds and store points are kept)
evaluate: install
	$(BIN)/qchaos evaluate --preset $(PRESET) $(if $(filter paper,$(PRESET)),--resume)

bench: install
	$(BIN)/python -m benchmarks --preset $(PRESET)

clean:
	rm -rf $(VENV) data reports/mini .pytest_cache dist build  # reports/paper is the committed reproduction
